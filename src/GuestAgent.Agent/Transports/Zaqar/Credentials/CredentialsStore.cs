using System.Text.Json;
using GuestAgent.Agent.Platform;
using GuestAgent.Zaqar;

namespace GuestAgent.Agent.Transports.Zaqar.Credentials;

/// <summary>
/// Renewed pre-signed URLs of one binding, kept in the state directory
/// (<c>credentials/TENANT.json</c>, mode 0600) so a restart uses them rather than the older ones
/// of the configuration file, which may have expired meanwhile.
/// </summary>
public static class CredentialsStore
{
    public sealed record Stored(PreSignedUrl CommandQueue, PreSignedUrl ReplyQueue, DateTimeOffset RenewedAt, string File);

    private sealed record FileV1(int Version, string CommandQueue, string ReplyQueue, DateTimeOffset RenewedAt);

    public static string PathFor(string stateDir, string tenant) => Path.Combine(stateDir, "credentials", tenant + ".json");

    /// <summary>The stored URLs of <paramref name="tenant"/>; null when none were stored.</summary>
    /// <exception cref="InvalidDataException">The file exists but cannot be read as stored credentials.</exception>
    public static Stored? Load(string stateDir, string tenant)
    {
        var file = PathFor(stateDir, tenant);
        if (!File.Exists(file))
        {
            return null;
        }
        try
        {
            var v1 = JsonSerializer.Deserialize<FileV1>(File.ReadAllText(file))
                ?? throw new InvalidDataException("empty");
            return new Stored(PreSignedUrl.Parse(v1.CommandQueue), PreSignedUrl.Parse(v1.ReplyQueue), v1.RenewedAt, file);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            throw new InvalidDataException($"{file} does not hold renewed credentials ({e.Message}); delete it to use the configured ones", e);
        }
    }

    /// <summary>Writes the URLs in use: a temp file (0600), fsync, rename over the old one, fsync of the directory.</summary>
    public static void Save(IFileSystem files, string stateDir, string tenant, PreSignedUrl command, PreSignedUrl reply, DateTimeOffset renewedAt)
    {
        var file = PathFor(stateDir, tenant);
        var dir = Path.GetDirectoryName(file)!;
        Directory.CreateDirectory(dir);
        var temp = file + ".tmp";
        var json = JsonSerializer.SerializeToUtf8Bytes(new FileV1(1, command.ToJson(), reply.ToJson(), renewedAt));
        File.Delete(temp);
        // The URLs let whoever holds them claim the guest's commands: for the agent's eyes only.
        using (var s = files.OpenOwnerOnly(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write }))
        {
            s.Write(json);
            s.Flush(flushToDisk: true);
        }
        File.Move(temp, file, overwrite: true);
        files.FsyncDirectory(dir);
    }
}
