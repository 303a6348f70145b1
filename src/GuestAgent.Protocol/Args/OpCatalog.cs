using System.Text.Json;
using static GuestAgent.Protocol.Args.ArgsReader;

namespace GuestAgent.Protocol.Args;

/// <summary>Reads one op's <c>args</c> object into its typed form, or throws <see cref="ArgsRejectedException"/>.</summary>
public delegate OpArgs OpArgsReader(JsonElement args, ProtocolLimits limits);

/// <summary>
/// The ops a parser knows and how to read their arguments. The agent passes its block registry
/// (the ops of the blocks it loaded, and its core ops); <see cref="OpCatalog.Standard"/> knows the
/// standard ops' wire forms, for controllers and tests that read commands back.
/// </summary>
public interface IOpCatalog
{
    /// <summary>Every op the catalog reads, for the <c>unknown_op</c> rejection's list.</summary>
    IReadOnlyCollection<string> OpNames { get; }

    /// <summary>The reader of <paramref name="op"/>'s arguments, or null when the op is unknown.</summary>
    OpArgsReader? ReaderFor(string op);
}

/// <summary>An <see cref="IOpCatalog"/> from a table of op names and readers.</summary>
public sealed class OpCatalog(IReadOnlyDictionary<string, OpArgsReader> readers) : IOpCatalog
{
    private readonly Dictionary<string, OpArgsReader> _readers = new(readers, StringComparer.Ordinal);

    public IReadOnlyCollection<string> OpNames => _readers.Keys;

    public OpArgsReader? ReaderFor(string op) => _readers.GetValueOrDefault(op);

    /// <summary>The standard ops' wire forms: exec, status, cancel, ping, http, file.put, file.get, credentials.</summary>
    public static OpCatalog Standard { get; } = new(StandardReaders());

    /// <summary>The readers of the standard ops, by op name.</summary>
    public static IReadOnlyDictionary<string, OpArgsReader> StandardReaders() => new Dictionary<string, OpArgsReader>
    {
        [Ops.Exec] = StandardArgs.ReadExecArgs,
        [Ops.Status] = StandardArgs.ReadStatusArgs,
        [Ops.Cancel] = StandardArgs.ReadCancelArgs,
        [Ops.Ping] = (_, _) => new PingArgs(),
        [Ops.Http] = StandardArgs.ReadHttpArgs,
        [Ops.FilePut] = StandardArgs.ReadFilePut,
        [Ops.FileGet] = StandardArgs.ReadFileGetArgs,
        [Ops.Credentials] = (args, _) => StandardArgs.ReadCredentialsArgs(args),
    };
}

public static partial class StandardArgs
{
    public static StatusArgs ReadStatusArgs(JsonElement args, ProtocolLimits limits) =>
        new(ReadGuid(Required(args, "command_id", "args.command_id"), "args.command_id"));

    public static CancelArgs ReadCancelArgs(JsonElement args, ProtocolLimits limits) =>
        new(ReadGuid(Required(args, "command_id", "args.command_id"), "args.command_id"));

    /// <summary>A <c>url</c> makes a file.put one download instead of one chunk of a transfer.</summary>
    public static OpArgs ReadFilePut(JsonElement args, ProtocolLimits limits) =>
        Optional(args, "url") is null ? ReadFilePutArgs(args) : ReadFilePutUrlArgs(args, limits);
}
