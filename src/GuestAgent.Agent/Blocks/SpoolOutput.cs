using GuestAgent.Agent.Operations;
using GuestAgent.Agent.Platform;
using GuestAgent.Blocks;

namespace GuestAgent.Agent.Blocks;

/// <summary>
/// A run's output streams as spool files in the binding's spool directory, named after the
/// command and attempt (<c>{id}-{attempt}.{stream}</c>): the ledger deletes them by that prefix
/// once the final reply is delivered.
/// </summary>
public sealed class SpoolOutput(IFileSystem files, string directory, Guid commandId, int attempt) : IBlockOutput
{
    /// <summary>The directory; the built-in runners open their spool files themselves, here, before anything starts.</summary>
    public string Directory { get; } = directory;

    public Task<IOutputWriter> OpenAsync(string stream, int inlineCapBytes)
    {
        if (string.IsNullOrEmpty(stream) || stream.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-')))
        {
            throw new ArgumentException($"an output stream is named with letters, digits, '_' and '-', not '{stream}'", nameof(stream));
        }
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, $"{commandId:N}-{attempt}.{stream}");
        var cap = Math.Clamp(inlineCapBytes, 0, Configuration.AgentSettings.MaxInlineOutputBytes);
        return Task.FromResult<IOutputWriter>(new OutputSpool(OutputSpool.OpenFile(files, path), path, cap));
    }
}
