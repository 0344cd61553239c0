using System.Runtime.InteropServices;

namespace Strata.EndToEnd.Tests.Harness;

internal static partial class Libc
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGSTOP = 19;
    public const int SIGCONT = 18;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();
}
