namespace GuestAgent.Protocol;

/// <summary>
/// The envelope version (<c>v</c>). It is bumped only for breaking changes; additions (new
/// optional fields, new ops) keep it, which is why readers ignore fields they do not know.
/// </summary>
public static class ProtocolVersion
{
    public const int Current = 1;
}
