namespace GuestAgent.Protocol;

/// <summary>
/// Error codes of the file ops, sent as <c>error.code</c> of <c>failed</c> replies. Stable wire
/// values (see docs/protocol.md): never rename one. Shared by the agent, which sends them, and
/// controllers, which act on them.
/// </summary>
public static class FileErrorCodes
{
    /// <summary>The path (after resolving symlinks) is outside every allowed root, or cannot be examined.</summary>
    public const string ForbiddenPath = "forbidden_path";

    /// <summary>The file (or, for a write, its directory) does not exist.</summary>
    public const string NotFound = "not_found";

    /// <summary>A write would replace an existing file and <c>overwrite</c> is false.</summary>
    public const string Exists = "exists";

    /// <summary>The path is a directory.</summary>
    public const string IsDirectory = "is_directory";

    /// <summary>The path is a device, FIFO, socket or other non-regular file.</summary>
    public const string NotARegularFile = "not_a_regular_file";

    /// <summary>The assembled file's SHA-256 is not the one the transfer announced.</summary>
    public const string ChecksumMismatch = "checksum_mismatch";

    /// <summary>A read's offset is past the end of the file.</summary>
    public const string InvalidOffset = "invalid_offset";

    /// <summary>A file.put chunk disagrees with the transfer its id began (path, size, sha256, chunk size, mode, owner ...).</summary>
    public const string TransferMismatch = "transfer_mismatch";

    /// <summary>The file is larger than the tenant's max-file-bytes.</summary>
    public const string TooLarge = "too_large";
}
