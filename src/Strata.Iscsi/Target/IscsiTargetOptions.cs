using System.Net;
using Strata.Iscsi.Login;

namespace Strata.Iscsi.Target;

public sealed class IscsiTargetOptions
{
    /// <summary>Where the portal listens (the iSCSI port is 3260).</summary>
    public IPEndPoint Portal { get; init; } = new(IPAddress.Loopback, 3260);

    public ushort TargetPortalGroupTag { get; init; } = 1;

    /// <summary>Commands in flight per session: the CmdSN window (MaxCmdSN - ExpCmdSN + 1).</summary>
    public int CommandWindow { get; init; } = 128;

    /// <summary>Idle time after which the target pings the initiator with a NOP-In; zero disables pings.</summary>
    public TimeSpan NopInInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a ping may go unanswered before the connection is dropped.</summary>
    public TimeSpan NopInTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a connection may take from accept to the end of login before it is dropped; zero
    /// waits forever.</summary>
    public TimeSpan LoginTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Bytes of task buffers (data-out and data-in) one session may hold at once. A command that would go beyond
    /// is answered TASK SET FULL (or BUSY when it would be the session's only one, SAM-5 5.3): without a bound,
    /// writes that announce 16 MiB and never send it pin 16 MiB each, a window of 128 per session.
    /// </summary>
    public long MaxTaskBufferBytesPerSession { get; init; } = 128L << 20;

    /// <summary>The same bound for all sessions of this portal together.</summary>
    public long MaxTaskBufferBytes { get; init; } = 1L << 30;

    public TargetNegotiationLimits Limits { get; init; } = new();

    /// <summary>When set, discovery sessions must authenticate with CHAP.</summary>
    public ChapCredentials? DiscoveryChap { get; init; }

    /// <summary>Where the server reports connections, logins and errors.</summary>
    public Action<string> Log { get; init; } = _ => { };
}
