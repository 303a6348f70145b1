using System.Reflection;
using Akka.Configuration;
using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Operations.Files;
using GuestAgent.Agent.Operations.Http;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;

namespace GuestAgent.Agent.Blocks;

/// <summary>
/// Builds the agent's <see cref="BlockRegistry"/> from <c>guest-agent.blocks</c>: the blocks named
/// in <c>load</c>, built in or found in one of the <c>directories</c> the operator names. Blocks
/// come from there only, never from a command.
/// </summary>
public static class BlockLoader
{
    /// <summary>The blocks built into the agent, by name.</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } = ["exec", "http", "files"];

    private static OperationBlock? BuiltIn(string name, GuestPlatform platform) => name switch
    {
        "exec" => new ExecBlock(platform),
        "http" => new HttpBlock(platform),
        "files" => new FilesBlock(platform),
        _ => null,
    };

    /// <param name="blocks">The <c>guest-agent.blocks</c> section.</param>
    /// <param name="stateDir">The agent's state directory; each block gets <c>blocks/NAME</c> in it.</param>
    public static BlockRegistry Load(Config blocks, GuestPlatform platform, string stateDir, string agentName)
    {
        var load = blocks.HasPath("load") ? blocks.GetStringList("load").ToList() : BuiltInNames.ToList();
        var directories = blocks.HasPath("directories") ? blocks.GetStringList("directories").ToList() : [];
        foreach (var directory in directories.Where(d => string.IsNullOrEmpty(d) || !Path.IsPathFullyQualified(d)))
        {
            throw new ConfigException($"guest-agent.blocks.directories: '{directory}' is not an absolute path");
        }
        var loaded = new List<OperationBlock>();
        foreach (var name in load.Distinct(StringComparer.Ordinal))
        {
            loaded.Add(BuiltIn(name, platform) ?? External(name, directories, Path.Combine(stateDir, "blocks", name), agentName, platform.Files));
        }
        return BlockRegistry.Of(loaded);
    }

    /// <summary>
    /// The block <paramref name="name"/> from the first of <paramref name="directories"/> that has a
    /// subdirectory of that name: the output of <c>dotnet publish</c> of the block's project, whose
    /// main assembly is the one its <c>.deps.json</c> names.
    /// </summary>
    private static OperationBlock External(string name, IReadOnlyList<string> directories, string stateDirectory, string agentName, IFileSystem files)
    {
        var where = directories.Select(d => Path.Combine(d, name)).FirstOrDefault(Directory.Exists)
            ?? throw new ConfigException(directories.Count == 0
                ? $"guest-agent.blocks.load: '{name}' is not a built-in block ({string.Join(", ", BuiltInNames)}) and guest-agent.blocks.directories names no directory to look in"
                : $"guest-agent.blocks.load: '{name}' is not a built-in block, and none of {string.Join(", ", directories)} has a directory '{name}'");
        var deps = Directory.GetFiles(where, "*.deps.json");
        if (deps.Length != 1)
        {
            throw new ConfigException($"block '{name}': {where} must hold exactly one *.deps.json (the block's `dotnet publish` output); found {deps.Length}");
        }
        var main = Path.Combine(where, Path.GetFileName(deps[0])[..^".deps.json".Length] + ".dll");
        if (!File.Exists(main))
        {
            throw new ConfigException($"block '{name}': {main} is missing");
        }
        Assembly assembly;
        Type[] types;
        try
        {
            assembly = new BlockLoadContext(main).LoadFromAssemblyPath(main);
            types = assembly.GetTypes();
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException or ReflectionTypeLoadException)
        {
            throw new ConfigException($"block '{name}': {main} cannot be loaded: {e.Message}");
        }
        var candidates = types.Where(t => typeof(OperationBlock).IsAssignableFrom(t) && t is { IsAbstract: false, IsPublic: true }).ToList();
        if (candidates.Count != 1)
        {
            throw new ConfigException($"block '{name}': {main} must define exactly one public OperationBlock; it defines {candidates.Count}");
        }
        var type = candidates[0];
        OperationBlock block;
        try
        {
            if (type.GetConstructor([typeof(IBlockHost)]) is { } withHost)
            {
                Directory.CreateDirectory(stateDirectory);
                files.SetMode(stateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                block = (OperationBlock)withHost.Invoke([new BlockHost(agentName, stateDirectory, name)]);
            }
            else
            {
                block = (OperationBlock)(Activator.CreateInstance(type)
                    ?? throw new ConfigException($"block '{name}': {type.FullName} could not be constructed"));
            }
        }
        catch (Exception e) when (e is TargetInvocationException or MissingMethodException or MemberAccessException)
        {
            throw new ConfigException($"block '{name}': constructing {type.FullName} failed: {e.GetBaseException().Message}");
        }
        if (block.Name != name)
        {
            throw new ConfigException($"block '{name}': the block in {main} calls itself '{block.Name}'; its directory must have the same name");
        }
        Serilog.Log.Information("loaded block {Block} ({Ops}) from {Path}, version {Version}", name, string.Join(", ", block.Ops.Select(o => o.Name)),
            main, assembly.GetName().Version);
        return block;
    }
}
