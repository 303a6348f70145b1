namespace GuestAgent.Agent.Platform.Linux;

/// <summary>Users and groups from the C library's passwd and group databases (NSS: files, LDAP, sssd alike).</summary>
public sealed class LinuxAccounts : IAccounts
{
    public GuestUser? FindUser(string name) => Native.LookUpUser(name);

    public uint? FindGroup(string name) => Native.LookUpGroup(name);

    public uint EffectiveUserId => Native.EffectiveUserId;
}
