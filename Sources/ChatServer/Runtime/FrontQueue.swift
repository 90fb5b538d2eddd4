/// An array used as a first-in first-out queue: taking from the front only moves an
/// index, and the taken part is dropped now and then, so both ends cost O(1) amortized.
struct FrontQueue<Element> {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    var first: Element? { isEmpty ? nil : items[head] }
    var last: Element? { isEmpty ? nil : items.last }
    /// The waiting elements, front first.
    var elements: ArraySlice<Element> { items[head...] }

    mutating func append(_ e: Element) { items.append(e) }

    mutating func popFirst() -> Element? {
        guard !isEmpty else { return nil }
        let e = items[head]
        head += 1
        compact()
        return e
    }

    /// Inserts before the first element for which `before` holds (keeps an order).
    mutating func insert(_ e: Element, before: (Element) -> Bool) {
        items.insert(e, at: items[head...].firstIndex(where: before) ?? items.count)
    }

    /// Removes the first waiting element matching `predicate` (O(n), for rare cases).
    mutating func removeFirst(where predicate: (Element) -> Bool) {
        if let i = items[head...].firstIndex(where: predicate) { items.remove(at: i) }
        compact()
    }

    mutating func removeAll() {
        items.removeAll()
        head = 0
    }

    private mutating func compact() {
        if head == items.count {
            items.removeAll(keepingCapacity: items.count < 4_096)
            head = 0
        } else if head > 1_024, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}
