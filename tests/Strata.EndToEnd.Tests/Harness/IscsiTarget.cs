namespace Strata.EndToEnd.Tests.Harness;

/// <summary>CHAP credentials (RFC 7143 §12.1.3).</summary>
public sealed record Chap(string User, string Secret);

/// <summary>How a target under test is set up; Strata and tgt take the same options.</summary>
public sealed record TargetOptions
{
    /// <summary>The backing file; created sparse with <see cref="SizeBytes"/> when missing.</summary>
    public required string File { get; init; }
    public long SizeBytes { get; init; } = 1L << 30;
    public int BlockSize { get; init; } = 512;
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>The portal's port; a free one when null.</summary>
    public int? Port { get; init; }
    /// <summary>Target IQN; null means the target's default (Strata: iqn.2026-11.io.strata:&lt;file name&gt;).</summary>
    public string? Iqn { get; init; }
    public Chap? Chap { get; init; }
    public Chap? MutualChap { get; init; }
    public IReadOnlyList<string> AllowInitiators { get; init; } = [];
    /// <summary>Run the target inside this network namespace (ip netns exec).</summary>
    public Netns? Netns { get; init; }
    public bool Direct { get; init; }
    /// <summary>
    /// Strata only: <see cref="File"/> is the vdev of a pool (created with <c>strata pool create</c>) and the LUN
    /// is a thin volume of it (<c>strata iscsi serve --pool --volume</c>) instead of the file itself.
    /// </summary>
    public bool Pool { get; init; }
}

/// <summary>An iSCSI target process serving one disk LUN: Strata or Debian's tgt.</summary>
public interface IIscsiTarget : IAsyncDisposable
{
    string Name { get; }
    string Host { get; }
    int Port { get; }
    string Iqn { get; }
    /// <summary>The disk's LUN: 0 for Strata, 1 for tgt (whose controller sits at LUN 0).</summary>
    int Lun { get; }
    string BackingFile { get; }

    /// <summary>The process is killed with SIGKILL, then started again on the same file and port.</summary>
    Task KillAndRestartAsync();

    /// <summary>The target's command lines and output so far, for failure messages.</summary>
    string Describe();
}

public static class TargetExtensions
{
    /// <summary>libiscsi/qemu URL of the disk LUN, optionally with CHAP (and mutual CHAP) credentials.</summary>
    public static string Url(this IIscsiTarget t, Chap? chap = null, Chap? mutual = null)
    {
        string auth = chap is null ? "" : $"{Uri.EscapeDataString(chap.User)}%{Uri.EscapeDataString(chap.Secret)}@";
        string query = mutual is null ? "" : $"?target_user={Uri.EscapeDataString(mutual.User)}&target_password={Uri.EscapeDataString(mutual.Secret)}";
        return $"iscsi://{auth}{t.Host}:{t.Port}/{t.Iqn}/{t.Lun}{query}";
    }

    public static string Portal(this IIscsiTarget t) => $"{t.Host}:{t.Port}";

    public static async Task<IIscsiTarget> StartAsync(string kind, TargetOptions options, Action<string> log) => kind switch
    {
        "strata" => await StrataTarget.StartAsync(options, log),
        "strata-pool" => await StrataTarget.StartAsync(options with { Pool = true }, log),
        "tgt" => await TgtTarget.StartAsync(options, log),
        _ => throw new ArgumentException($"unknown target kind {kind}", nameof(kind)),
    };

    internal static void CreateSparse(string path, long size)
    {
        if (File.Exists(path)) return;
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(size);
    }

    internal static Task<bool> PortalAcceptsAsync(Netns? netns, string host, int port) =>
        netns is null ? Ports.CanConnectAsync(host, port) : netns.CanConnectAsync(host, port);
}
