using Strata.Control.Apply;
using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Strata.Control.Store;
using Strata.State;

namespace Strata.Control.Nodes;

/// <summary>
/// A volume's epoch and in-sync set, as targets ask for them: a target instance takes a new epoch before it opens
/// the replicas, and changes the in-sync set by compare-and-swap at that epoch only (docs/replication.md).
/// </summary>
public sealed class VolumeMembership(IStore store, Action<string> log)
{
    private readonly ResourceStore _resources = new(store);
    private readonly EventRecorder _events = new(store, "control-plane");

    /// <summary>
    /// Takes the next epoch for the target on <paramref name="node"/>; null when the volume is not (or no longer)
    /// served there. Every older target instance is fenced from the moment a replica sees the new epoch.
    /// </summary>
    public async Task<VolumeEpoch?> TakeEpochAsync(string node, string volumeName, CancellationToken ct)
    {
        var volume = await _resources.MutateAsync<Volume>(ResourceKind.Volume, null, volumeName, v =>
        {
            if (v.Spec.TargetNode != node || v.Metadata.DeletionTimestamp is not null)
            {
                return false;
            }

            v.Status.Epoch++;
            v.Status.InSync ??= v.Spec.Replicas.Select(r => r.Name).ToList();
            return true;
        }, ct).ConfigureAwait(false);
        if (volume is null || volume.Spec.TargetNode != node || volume.Metadata.DeletionTimestamp is not null)
        {
            return null;
        }

        var nodes = (await _resources.ListAsync<Node>(ResourceKind.Node, ct).ConfigureAwait(false)).ToDictionary(n => n.Metadata.Name, StringComparer.Ordinal);
        var replicas = volume.Spec.Replicas.Select(r => new ReplicaEndpoint(r.Name, r.Node, nodes.GetValueOrDefault(r.Node)?.Spec.ReplicaEndpoint)).ToList();
        log($"volume {volumeName}: epoch {volume.Status.Epoch} taken by the target on node {node}; in sync: {string.Join(", ", volume.Status.InSync!)}");
        await _events.RecordAsync(volume, "Normal", "TargetEpoch", $"the target on node {node} took epoch {volume.Status.Epoch}; older target instances are fenced", ct).ConfigureAwait(false);
        return new VolumeEpoch(volume.Status.Epoch, volume.Status.InSync!, replicas, volume.Spec.MinInSync, volume.Status.RebuildCheckpoints);
    }

    /// <summary>
    /// Sets the in-sync set when the volume is still at <see cref="InSyncChange.Epoch"/> and holds the expected set;
    /// returns the set held afterwards. Throws <see cref="ControlException"/> Conflict when the epoch moved on.
    /// </summary>
    public async Task<InSyncResult> ChangeInSyncAsync(string node, string volumeName, InSyncChange change, CancellationToken ct)
    {
        List<string>? before = null;
        bool applied = false;
        var volume = await MutateAtEpochAsync(node, volumeName, change.Epoch, v =>
        {
            applied = false;
            before = v.Status.InSync;

            // A replica the volume no longer has (the control plane replaced it, and the target has not removed it
            // yet) is in sync with nothing: it is left out, and the target, which asked for it, tries again later.
            var known = v.Spec.Replicas.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
            var wanted = change.InSync.Where(known.Contains).ToList();
            var current = v.Status.InSync ?? [];
            if (!SameSet(current, change.Expected) || SameSet(current, wanted))
            {
                return false; // someone else changed it first: the caller reconciles with what is there; or nothing to do
            }

            if (wanted.Count == 0)
            {
                throw ControlException.Conflict($"an in-sync set must be a non-empty subset of the volume's replicas ({string.Join(", ", known)}), not [{string.Join(", ", change.InSync)}]");
            }

            // A replica joining or leaving the set loses its rebuild checkpoint: in the set it needs none, and one that
            // left misses writes from now on (docs/replication.md, "Resuming a rebuild").
            foreach (string changed in current.Except(wanted).Concat(wanted.Except(current)))
            {
                v.Status.RebuildCheckpoints?.Remove(changed);
            }

            if (v.Status.RebuildCheckpoints is { Count: 0 })
            {
                v.Status.RebuildCheckpoints = null;
            }

            v.Status.InSync = wanted;
            applied = true;
            return true;
        }, ct).ConfigureAwait(false);

        var now = volume.Status.InSync ?? [];
        if (applied && before is not null && !SameSet(before, now))
        {
            var left = before.Except(now).ToList();
            var joined = now.Except(before).ToList();
            string message = $"in-sync replicas now {string.Join(", ", now)}" + (left.Count > 0 ? $"; {string.Join(", ", left)} left the set" : "") + (joined.Count > 0 ? $"; {string.Join(", ", joined)} rejoined after a rebuild" : "");
            log($"volume {volumeName}: {message} (epoch {change.Epoch})");
            await _events.RecordAsync(volume, left.Count > 0 ? "Warning" : "Normal", left.Count > 0 ? "ReplicaOutOfSync" : "ReplicaInSync", message, ct).ConfigureAwait(false);
        }

        return new InSyncResult([.. now]);
    }

    /// <summary>
    /// Records (or clears, <see cref="RebuildCheckpointChange.CopiedBytes"/> null) how far the target's rebuild of a
    /// replica has made it whole, when the volume is still at <see cref="RebuildCheckpointChange.Epoch"/>. A replica in
    /// the set, or no longer of the volume, gets none. Throws <see cref="ControlException"/> Conflict when the epoch moved on.
    /// </summary>
    public async Task SetRebuildCheckpointAsync(string node, string volumeName, RebuildCheckpointChange change, CancellationToken ct) =>
        await MutateAtEpochAsync(node, volumeName, change.Epoch, v =>
        {
            var checkpoints = v.Status.RebuildCheckpoints;
            bool keep = change.CopiedBytes is { } bytes && bytes >= 0 && v.Spec.Replicas.Any(r => r.Name == change.Replica)
                && !(v.Status.InSync ?? []).Contains(change.Replica);
            if (keep)
            {
                if (checkpoints?.GetValueOrDefault(change.Replica, -1) == change.CopiedBytes)
                {
                    return false;
                }

                (v.Status.RebuildCheckpoints ??= [])[change.Replica] = change.CopiedBytes!.Value;
                return true;
            }

            if (checkpoints is null || !checkpoints.Remove(change.Replica))
            {
                return false;
            }

            if (checkpoints.Count == 0)
            {
                v.Status.RebuildCheckpoints = null;
            }

            return true;
        }, ct).ConfigureAwait(false);

    /// <summary>
    /// Applies <paramref name="change"/> to the volume (true: write it; false: nothing to write) only while it is at
    /// <paramref name="epoch"/> with its target on <paramref name="node"/>; returns the volume as stored afterwards.
    /// Throws <see cref="ControlException"/> NotFound, or Conflict when the epoch moved on (the target is fenced) or
    /// the change throws it.
    /// </summary>
    private async Task<Volume> MutateAtEpochAsync(string node, string volumeName, long epoch, Func<Volume, bool> change, CancellationToken ct)
    {
        string? refusal = null;
        var volume = await _resources.MutateAsync<Volume>(ResourceKind.Volume, null, volumeName, v =>
        {
            refusal = null;
            if (v.Status.Epoch != epoch || v.Spec.TargetNode != node)
            {
                refusal = $"volume {volumeName} is at epoch {v.Status.Epoch} (target on node {v.Spec.TargetNode}), not {epoch} on node {node}: this target instance is fenced";
                return false;
            }

            return change(v);
        }, ct).ConfigureAwait(false);
        if (volume is null)
        {
            throw ControlException.NotFound($"volume {volumeName} not found");
        }

        return refusal is null ? volume : throw ControlException.Conflict(refusal);
    }

    private static bool SameSet(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) => a.Count == b.Count && a.All(b.Contains);
}
