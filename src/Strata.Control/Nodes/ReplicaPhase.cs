using Strata.Control.Resources;

namespace Strata.Control.Nodes;

/// <summary>
/// A replica's STATUS (`strata get cvr`): from what its own node says (made or not) and what the volume's target says
/// (in sync, rebuilding, out of the set).
/// </summary>
public static class ReplicaPhase
{
    /// <param name="hosted">The replica's node's word: Pending, Failed or Healthy (the volume exists in its pool).</param>
    /// <param name="sync">The volume's target's last word on the replica; null before the target reported it.</param>
    /// <param name="inSync">Whether the replica is in the volume's in-sync set (what counts while the target is silent).</param>
    public static string Of(string hosted, ReplicaSync? sync, bool inSync) => hosted != "Healthy" ? hosted : sync?.Role switch
    {
        null => inSync ? "Healthy" : "Degraded",
        "Rebuilding" => "Rebuilding",
        "Offline" => "Degraded",
        _ => "Healthy",
    };

    public static string Why(ReplicaSync? sync) => sync?.Role switch
    {
        null => "out of the in-sync set: waiting for the volume's target to rebuild it",
        "Rebuilding" when sync.Rebuild is { } r => $"rebuilding ({(r.Full ? "full copy" : "catching up")}): {Percent(r):0.#}% of {Quantity.FormatHuman(r.BytesTotal)} gone over",
        "Rebuilding" => "rebuilding",
        _ => $"out of the in-sync set: {sync.Reason ?? sync.LastError ?? "unknown"}",
    };

    public static double Percent(RebuildStatus r) => r.BytesTotal == 0 ? 100 : 100.0 * r.BytesDone / r.BytesTotal;

    /// <summary>Whether two reports say the same, ignoring the rebuild's moving figures' small steps (under 1%).</summary>
    public static bool Same(ReplicaSync? a, ReplicaSync b) =>
        a is not null && a.Role == b.Role && a.Reason == b.Reason && a.LastError == b.LastError && a.Epoch == b.Epoch
        && (a.Rebuild is null) == (b.Rebuild is null) && a.LastRebuild?.BytesCopied == b.LastRebuild?.BytesCopied
        && (a.Rebuild is null || Math.Abs(Percent(a.Rebuild) - Percent(b.Rebuild!)) < 1 && a.Rebuild.Full == b.Rebuild!.Full);
}
