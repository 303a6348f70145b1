namespace GuestAgent.Zaqar;

/// <summary>
/// Zaqar asks every client for a Client-ID UUID that stays the same across restarts (it hides a
/// client's own messages from its listings by it). This keeps one in a file.
/// </summary>
public static class ClientIdentity
{
    public static Guid LoadOrCreate(string path)
    {
        if (Load(path) is { } existing)
        {
            return existing;
        }
        var id = Guid.NewGuid();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, id.ToString() + "\n");
        File.Move(tmp, path, overwrite: true);
        return id;
    }

    /// <summary>The id kept in <paramref name="path"/>, or null when there is none yet (nothing is created).</summary>
    public static Guid? Load(string path) =>
        File.Exists(path) && Guid.TryParse(File.ReadAllText(path).Trim(), out var existing) ? existing : null;
}
