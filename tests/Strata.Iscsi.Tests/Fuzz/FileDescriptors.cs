using System.Runtime.InteropServices;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// The open-file limit (RLIMIT_NOFILE) of this process. A test that holds thousands of connections needs two
/// descriptors for each (ours and the in-process target's). .NET raises the soft limit to the hard one at start,
/// but a machine may set the hard limit to 1024 (containers, CI runners, some systemd units); root may raise it.
/// </summary>
internal static partial class FileDescriptors
{
    private const int RlimitNofile = 7;

    /// <summary>Descriptors open now.</summary>
    public static int Open => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>The soft limit now.</summary>
    public static long Limit => getrlimit(RlimitNofile, out var r) == 0 ? (long)Math.Min(r.Current, long.MaxValue) : 1024;

    /// <summary>
    /// Makes room for <paramref name="more"/> descriptors beyond those open now when the process may (up to the
    /// hard limit, beyond it as root), and says how many of them fit, which may be fewer.
    /// </summary>
    public static long MakeRoomFor(long more)
    {
        long needed = Open + more;
        if (getrlimit(RlimitNofile, out var r) != 0)
        {
            return Limit - Open;
        }

        if (r.Current < (ulong)needed)
        {
            var raised = new Rlimit { Current = Math.Max(r.Current, Math.Min((ulong)needed, r.Maximum)), Maximum = r.Maximum };
            if (r.Maximum < (ulong)needed)
            {
                // Beyond the hard limit: only a privileged process may, and then both go up (at most nr_open).
                var privileged = new Rlimit { Current = (ulong)needed, Maximum = (ulong)needed };
                if (setrlimit(RlimitNofile, in privileged) == 0)
                {
                    raised = privileged;
                }
            }

            _ = setrlimit(RlimitNofile, in raised);
        }

        return Limit - Open;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out Rlimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in Rlimit limit);
}
