using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace GuestAgent.Client.Files;

/// <summary>
/// Transfer ids that are the same every time for the same upload, so that repeating an interrupted
/// upload resumes it (see <see cref="FilePutOptions.TransferId"/>) without anyone having to remember
/// the id: <c>guestctl cp</c> does this.
/// </summary>
public static class FileTransferIds
{
    /// <summary>The namespace of <see cref="ForPut"/>'s name-based UUIDs (a fixed random UUID; never change it, or every id changes).</summary>
    public static Guid Namespace { get; } = new("3b0c6f4e-9a51-4d2c-8e7f-5d1a2b3c4e6f");

    /// <summary>
    /// A name-based (version 5, SHA-1) UUID of the upload of a file with content hash
    /// <paramref name="sha256"/> and <paramref name="size"/> bytes to <paramref name="guestPath"/> through
    /// the guest's command queue <paramref name="commandQueue"/>. The same four give the same id; any other
    /// content, destination or guest gives another, so two different uploads never share a transfer.
    /// </summary>
    /// <remarks>
    /// Options that the agent checks chunk by chunk (chunk size, mode, owner, group, overwrite) are not
    /// part of the name: repeating an upload with other options under the same id makes the agent fail
    /// its chunks (<c>transfer_mismatch</c>); start a new transfer (a random id) then.
    /// </remarks>
    public static Guid ForPut(string commandQueue, string guestPath, string sha256, long size)
    {
        ArgumentException.ThrowIfNullOrEmpty(commandQueue);
        ArgumentException.ThrowIfNullOrEmpty(guestPath);
        ArgumentException.ThrowIfNullOrEmpty(sha256);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        // NUL cannot occur in a queue name, a guest path or a hex digest, so the fields cannot run into each other.
        var name = string.Join('\0', "file.put", commandQueue, guestPath, sha256.ToLowerInvariant(),
            size.ToString(CultureInfo.InvariantCulture));
        return NameBased(Namespace, name);
    }

    /// <summary>An RFC 9562 version 5 UUID: SHA-1 of the namespace's bytes (network order) and the UTF-8 name.</summary>
    public static Guid NameBased(Guid ns, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[16 + nameBytes.Length];
        ns.TryWriteBytes(input, bigEndian: true, out _);
        nameBytes.CopyTo(input, 16);
#pragma warning disable CA5350 // SHA-1 is what version 5 UUIDs are defined with; nothing here relies on its strength.
        var hash = SHA1.HashData(input);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
