using System.Collections.Concurrent;
using System.Net;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// An in-process <see cref="IscsiTargetServer"/> on loopback serving two targets, each a <see cref="FileBlockDevice"/>
/// on a temp file: one for the fuzzer to attack, one for the well-behaved session that checks its data, so the
/// fuzzer's random writes cannot be mistaken for corruption. Every log line is kept for the assertions.
/// </summary>
internal sealed class FuzzTarget : IAsyncDisposable
{
    public const string FuzzedName = "iqn.2026-11.io.strata:fuzzed";
    public const string VerifiedName = "iqn.2026-11.io.strata:verified";
    public const int BlockSize = 512;
    public const long DeviceBytes = 64L << 20;

    private readonly string _dir;
    private readonly List<IBlockDevice> _devices = [];

    private FuzzTarget(string dir, IscsiTargetServer server, ConcurrentQueue<string> log)
    {
        _dir = dir;
        Server = server;
        _log = log;
    }

    private readonly ConcurrentQueue<string> _log;

    public IscsiTargetServer Server { get; }

    public IPEndPoint EndPoint => Server.LocalEndPoint!;

    public static long BlockCount => DeviceBytes / BlockSize;

    /// <summary>The log lines so far.</summary>
    public string[] Lines => [.. _log];

    /// <summary>Starts a server; <paramref name="options"/> gets the log sink and may change the defaults.</summary>
    public static FuzzTarget Start(Func<Action<string>, IscsiTargetOptions>? options = null)
    {
        var dir = Directory.CreateTempSubdirectory("strata-fuzz-").FullName;
        var log = new ConcurrentQueue<string>();
        Action<string> sink = log.Enqueue;
        var server = new IscsiTargetServer(options?.Invoke(sink) ?? new IscsiTargetOptions
        {
            Portal = new IPEndPoint(IPAddress.Loopback, 0),
            Log = sink,
        });
        var target = new FuzzTarget(dir, server, log);
        foreach (var name in new[] { FuzzedName, VerifiedName })
        {
            var device = FileBlockDevice.Open(Path.Combine(dir, name.Split(':')[1] + ".img"), DeviceBytes, BlockSize);
            target._devices.Add(device);
            server.AddTarget(new IscsiTarget(new TargetLoginPolicy { Name = name }, CreateExecutor(device)));
        }

        server.Start();
        return target;
    }

    /// <summary>
    /// The one place the SCSI layer is chosen. PROVISIONAL until the branch scsi lands on main: then this is
    /// <c>new ScsiTargetDevice(...)</c> over the same device.
    /// </summary>
    public static IScsiTaskExecutor CreateExecutor(IBlockDevice device) => Session.TestExecutors.Create(device);

    /// <summary>Log lines that show the target failed inside: an unhandled exception caught by the receive loop
    /// ("internal error"), or an exception out of SCSI execution ("task ... failed").</summary>
    public string[] Failures() =>
        [.. Lines.Where(l => l.Contains("internal error", StringComparison.Ordinal) || (l.StartsWith("task ", StringComparison.Ordinal) && l.Contains(" failed: ", StringComparison.Ordinal)))];

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var d in _devices)
        {
            await d.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }
}
