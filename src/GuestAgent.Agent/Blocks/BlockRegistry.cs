using System.Text.RegularExpressions;
using GuestAgent.Agent.Configuration;
using GuestAgent.Blocks;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Args;

namespace GuestAgent.Agent.Blocks;

/// <summary>
/// Every op this agent knows: the core's own (status, cancel and ping, answered at once, and
/// credentials) and those of the blocks it loaded. The one place that maps an op name to what
/// reads and runs it; the parser, the poller, the ledger and ping ask it.
/// </summary>
public sealed partial class BlockRegistry : IOpCatalog
{
    /// <summary>The core's ops: the queries and credentials (the guest's own queue access).</summary>
    public static readonly IReadOnlyList<string> CoreOps = [Ops.Status, Ops.Cancel, Ops.Ping, Ops.Credentials];

    private readonly Dictionary<string, OperationBlock> _blocks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (OperationBlock? Block, OpArgsReader Read)> _ops = new(StringComparer.Ordinal);

    private BlockRegistry(IEnumerable<OperationBlock> blocks)
    {
        var standard = OpCatalog.StandardReaders();
        foreach (var op in CoreOps)
        {
            _ops[op] = (null, standard[op]);
        }
        foreach (var block in blocks)
        {
            var name = block.Name ?? "";
            if (!NamePattern().IsMatch(name))
            {
                throw new ConfigException($"a block is named '{block.Name}' ({block.GetType().FullName}); block names use lower-case letters, digits, '.', '_' and '-'");
            }
            if (!_blocks.TryAdd(name, block))
            {
                throw new ConfigException($"guest-agent.blocks: two blocks are named '{block.Name}' ({_blocks[name].GetType().FullName} and {block.GetType().FullName})");
            }
            if (block.Ops is not { Count: > 0 } ops)
            {
                throw new ConfigException($"block '{block.Name}' declares no ops");
            }
            foreach (var op in ops)
            {
                var opName = op.Name ?? "";
                if (!NamePattern().IsMatch(opName) || op.ReadArgs is null)
                {
                    throw new ConfigException($"block '{block.Name}' declares an op '{op.Name}' without a valid name or argument reader");
                }
                if (_ops.TryGetValue(opName, out var owner))
                {
                    throw new ConfigException($"op '{op.Name}' of block '{block.Name}' is already the {(owner.Block is null ? "agent core's" : $"block '{owner.Block.Name}''s")}");
                }
                _ops[opName] = (block, op.ReadArgs);
            }
        }
    }

    /// <summary>A registry of <paramref name="blocks"/> and the core ops; a clash of names is a <see cref="ConfigException"/>.</summary>
    public static BlockRegistry Of(IEnumerable<OperationBlock> blocks) => new(blocks);

    /// <summary>The loaded blocks, by name.</summary>
    public IReadOnlyDictionary<string, OperationBlock> Blocks => _blocks;

    public IReadOnlyCollection<string> OpNames => _ops.Keys;

    public OpArgsReader? ReaderFor(string op) => _ops.TryGetValue(op, out var entry) ? entry.Read : null;

    /// <summary>The block that runs <paramref name="op"/>; null for a core op or an unknown one.</summary>
    public OperationBlock? BlockOf(string op) => _ops.TryGetValue(op, out var entry) ? entry.Block : null;

    /// <summary>The ops of the named blocks, with the core's.</summary>
    public IReadOnlySet<string> OpsOf(IEnumerable<string> blockNames)
    {
        var names = blockNames.ToHashSet(StringComparer.Ordinal);
        return _ops.Where(kv => kv.Value.Block is null || names.Contains(kv.Value.Block.Name)).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
