using System.Runtime.InteropServices;

namespace Strata.EndToEnd.Tests.Harness;

internal static partial class Libc
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    /// <summary>Loop devices, mounts, FUSE, network namespaces and tgtd need root: say so plainly.</summary>
    public static void RequireRoot(string what)
    {
        if (GetEuid() != 0) throw new InvalidOperationException($"{what} needs root; run the end-to-end tests as root (CI does)");
    }
}
