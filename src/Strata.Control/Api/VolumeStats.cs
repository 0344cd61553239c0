using Strata.Control.Apply;
using Strata.Control.Nodes;
using Strata.Control.Reconcile;
using Strata.Control.Resources;

namespace Strata.Control.Api;

/// <summary>
/// What `strata volume stats` shows (GET /api/v1/persistentvolumes/{name}/stats), as mayactl volume stats does: the
/// volume, where its target serves, its replicas, and the target's I/O (totals since the instance opened, and rates
/// over the last reports).
/// </summary>
/// <param name="SampledAt">When the control plane had the latest counters.</param>
/// <param name="Rates">Null until a second report of the same target instance.</param>
public sealed record VolumeStats(
    string Volume,
    string Iqn,
    string? Portal,
    string? TargetNode,
    long SizeBytes,
    string State,
    long Epoch,
    int ReplicaCount,
    List<VolumeStatsReplica> Replicas,
    DateTimeOffset SampledAt,
    IoCounters Totals,
    IoRates? Rates);

/// <param name="Status">The replica's phase (Healthy, Rebuilding, Degraded, Offline, Pending, Failed).</param>
public sealed record VolumeStatsReplica(string Name, string Node, string Pool, string Status, bool InSync);

/// <summary>Puts a volume's record, its replicas' and its target's latest samples together, or says why there are no stats.</summary>
internal static class VolumeStatsQuery
{
    public static async Task<VolumeStats> GetAsync(ControlPlaneServices services, string name, CancellationToken ct)
    {
        var volume = await services.Resources.GetAsync<Volume>(ResourceKind.Volume, null, name, ct).ConfigureAwait(false)
            ?? throw ControlException.NotFound($"persistentvolumes \"{name}\" not found");
        var window = services.IoSamples.Window(name);
        if (window is null || window.Latest.Node != volume.Spec.TargetNode || window.Latest.Epoch < volume.Status.Epoch)
        {
            throw ControlException.Conflict(WhyNoStats(volume, window));
        }

        var replicas = (await services.Resources.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica, ct).ConfigureAwait(false))
            .ToDictionary(r => r.Metadata.Name, StringComparer.Ordinal);
        var inSync = volume.Status.InSync ?? [];
        return new VolumeStats(
            name,
            volume.Spec.Iscsi.Iqn,
            volume.Status.TargetPortal ?? volume.Spec.Iscsi.TargetPortal,
            volume.Spec.TargetNode,
            volume.Spec.SizeBytes,
            volume.Status.State ?? "Pending",
            window.Latest.Epoch,
            volume.Spec.ReplicaCount,
            volume.Spec.Replicas.Select(p => new VolumeStatsReplica(
                p.Name, p.Node, p.Pool, replicas.GetValueOrDefault(p.Name)?.Status.Phase ?? "Pending", inSync.Contains(p.Name))).ToList(),
            window.Latest.ReceivedAt,
            window.Latest.Counters,
            window.Rates);
    }

    private static string WhyNoStats(Volume volume, IoWindow? window)
    {
        string name = volume.Metadata.Name;
        if (volume.Spec.TargetNode is not { } node)
        {
            return $"volume {name} has no target yet: it is not placed on a node";
        }

        if (Conditions.Find(volume.Status.Conditions, "TargetReady") is { Status: not "True" } notReady)
        {
            return $"no target serves volume {name} on node {node}: {notReady.Message ?? notReady.Reason ?? "not serving"}";
        }

        return window is null
            ? $"no target serving volume {name} has reported I/O counters yet (node {node} reports every few seconds)"
            : $"the target of volume {name} moved to node {node}; its I/O counters come with that node's next report";
    }
}
