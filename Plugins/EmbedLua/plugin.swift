import Foundation
import PackagePlugin

/// Embeds the target's Lua scripts (`*.lua`) at build time: the `EmbedLuaTool`
/// turns them into one generated Swift file of string constants (`LuaSource`), so the
/// server needs neither Foundation nor bundle resources to find them. A script's
/// `--@include <path>` lines are replaced by the file they name (shared functions).
@main
struct EmbedLua: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let scripts = module.sourceFiles(withSuffix: "lua").map(\.url).sorted { $0.path < $1.path }
        guard !scripts.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("LuaSource.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(scripts.count) Lua scripts of \(target.name)",
                executable: try context.tool(named: "EmbedLuaTool").url,
                arguments: [output.path] + scripts.map(\.path),
                inputFiles: scripts,
                outputFiles: [output]
            )
        ]
    }
}
