using System.Reflection;
using System.Runtime.Loader;

namespace GuestAgent.Agent.Blocks;

/// <summary>
/// The assemblies of one external block: its own, and its dependencies from its directory, apart
/// from the agent's and other blocks' (two blocks may carry different versions of a library).
/// The contract assemblies are always the agent's, so the block's types are the agent's types.
/// </summary>
internal sealed class BlockLoadContext(string mainAssemblyPath) : AssemblyLoadContext($"block:{Path.GetFileNameWithoutExtension(mainAssemblyPath)}")
{
    private static readonly HashSet<string> Shared = new(StringComparer.OrdinalIgnoreCase)
    {
        typeof(GuestAgent.Blocks.OperationBlock).Assembly.GetName().Name!,
        typeof(GuestAgent.Protocol.Command).Assembly.GetName().Name!,
    };

    private readonly AssemblyDependencyResolver _resolver = new(mainAssemblyPath);

    protected override Assembly? Load(AssemblyName name)
    {
        if (Shared.Contains(name.Name ?? ""))
        {
            // null: resolved by the default context, which holds the agent's copy.
            return null;
        }
        var path = _resolver.ResolveAssemblyToPath(name);
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
        return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
    }
}
