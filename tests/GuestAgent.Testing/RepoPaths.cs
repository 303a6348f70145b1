namespace GuestAgent.Testing;

/// <summary>Finds the repository from a test's output directory.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Tool(params string[] parts) => Path.Combine([Root, "tools", .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GuestAgent.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"GuestAgent.sln not found above {AppContext.BaseDirectory}.");
    }
}
