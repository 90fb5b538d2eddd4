/// How much of a run of stored events fits in a number of bytes: replays on join and
/// history answers are bounded in bytes as well as in count, so that a channel of
/// large messages cannot make either outgrow a client's output limit.
public enum ByteBudget {
    /// How many of `items`, taken in order, fit in `budget` bytes; always at least one
    /// (when there is one), so that a reader paging on makes progress.
    public static func fitting<S: Sequence>(_ items: S, budget: Int, size: (S.Element) -> Int) -> Int {
        var count = 0, used = 0
        for item in items {
            used += size(item)
            if count > 0 && used > budget { break }
            count += 1
        }
        return count
    }
}
