using Akka.Configuration;
using GuestAgent.Blocks;

namespace GuestAgent.Agent.Blocks;

/// <summary>A binding's HOCON as a block sees it; a value of the wrong kind is a <see cref="BlockConfigException"/> naming its key.</summary>
public sealed class BindingSettings(string tenant, Config binding) : IBlockSettings
{
    public string Tenant { get; } = tenant;

    public bool HasPath(string path) => binding.HasPath(path);

    public string? GetString(string path, string? absent = null) => Read(path, () => binding.GetString(path, absent));

    public IReadOnlyList<string> GetStringList(string path) =>
        Read(path, () => binding.HasPath(path) && !binding.GetValue(path).IsEmpty ? binding.GetStringList(path).ToList() : []);

    public int GetInt(string path, int absent) => Read(path, () => binding.GetInt(path, absent));

    public bool GetBoolean(string path, bool absent) => Read(path, () => binding.GetBoolean(path, absent));

    public long? GetBytes(string path) => Read(path, () => binding.HasPath(path) ? binding.GetByteSize(path) : null);

    public TimeSpan GetTimeSpan(string path, TimeSpan absent) => Read(path, () => binding.GetTimeSpan(path, absent));

    private static T Read<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is not BlockConfigException and not OutOfMemoryException)
        {
            throw new BlockConfigException(path, $"{path}: {e.Message}");
        }
    }
}
