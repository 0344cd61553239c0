using System.Net;
using System.Runtime.InteropServices;

namespace Strata.Cli.Cluster;

/// <summary>What the long-running roles (up, control, node) share: logging, endpoints, and running until SIGTERM or Ctrl-C.</summary>
internal static class Roles
{
    public static void Log(string message) => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {message}");

    public static string DefaultDataDirectory =>
        Environment.GetEnvironmentVariable("STRATA_DATA")
        ?? Path.Combine(Environment.GetEnvironmentVariable("XDG_DATA_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share"), "strata");

    public static bool TryEndPoint(string text, out IPEndPoint endPoint) =>
        IPEndPoint.TryParse(text, out endPoint!) && (endPoint.Port != 0 || text.EndsWith(":0", StringComparison.Ordinal));

    /// <summary>`--replica-replace-seconds` of `strata control` and `strata up`.</summary>
    public static System.CommandLine.Option<int> ReplaceReplicaOption() => new("--replica-replace-seconds")
    {
        Description = "Replace a replica whose node has been NotReady this long with a new one on another node, which gets a full copy (0: never).",
        DefaultValueFactory = _ => (int)Strata.Control.Reconcile.ReplicaReplacement.DefaultAfter.TotalSeconds,
    };

    /// <summary>The replacement timeout, or false (having said why) when it is out of range.</summary>
    public static bool TryReplaceReplicaAfter(int seconds, out TimeSpan after)
    {
        after = TimeSpan.FromSeconds(seconds);
        if (seconds is >= 0 and <= 7 * 24 * 3600)
        {
            return true;
        }

        Console.Error.WriteLine($"strata: --replica-replace-seconds must be 0 (never) to {7 * 24 * 3600} (a week), not {seconds}");
        return false;
    }

    /// <summary>Waits for SIGTERM, SIGINT or the command's cancellation.</summary>
    public static async Task WaitForStopAsync(CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
