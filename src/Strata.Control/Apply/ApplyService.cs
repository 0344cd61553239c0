using System.Text.Json;
using Strata.Control.Manifests;
using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Strata.Control.Store;
using Strata.State;

namespace Strata.Control.Apply;

/// <summary>
/// `strata apply` and `strata delete`: every document of a manifest is checked, against its schema and against the
/// cluster, before anything is written, so bad input changes nothing. Applying the same file again changes nothing.
/// </summary>
public sealed class ApplyService(IStore store, Action wake)
{
    private readonly ResourceStore _resources = new(store);
    private readonly EventRecorder _events = new(store, "control-plane");
    private readonly SemaphoreSlim _serial = new(1, 1); // applies and deletes check, then write: one at a time

    public async Task<IReadOnlyList<ApplyOutcome>> ApplyAsync(string manifest, string source, CancellationToken ct)
    {
        IReadOnlyList<Resource> resources;
        try
        {
            resources = ManifestParser.Parse(manifest, source);
            foreach (var r in resources)
            {
                ManifestValidator.Validate(r);
            }
        }
        catch (ManifestException e)
        {
            throw ControlException.BadRequest(e.Message);
        }

        if (resources.Count == 0)
        {
            throw ControlException.BadRequest($"{source}: no resources found");
        }

        // The same resource twice would have its second copy refused after the first was written: refuse it before anything is.
        if (resources.GroupBy(r => r.Key, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            var r = twice.First();
            throw ControlException.BadRequest($"{source} ({r.Descriptor.Kind} {r.QualifiedName}): is given {twice.Count()} times; a manifest may give each resource once");
        }

        await _serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var view = await ClusterView.ReadAsync(store, ct).ConfigureAwait(false);
            var plans = new List<(Resource Incoming, Resource? Existing)>();
            foreach (var incoming in resources)
            {
                var existing = await _resources.GetAsync<Resource>(incoming.Descriptor, incoming.Metadata.Namespace, incoming.Metadata.Name, ct).ConfigureAwait(false);
                new ApplyRules(view, resources, source).Check(incoming, existing);
                plans.Add((incoming, existing));
            }

            var outcomes = new List<ApplyOutcome>();
            foreach (var (incoming, existing) in plans)
            {
                outcomes.Add(await WriteAsync(incoming, existing, ct).ConfigureAwait(false));
            }

            wake();
            return outcomes;
        }
        finally
        {
            _serial.Release();
        }
    }

    private async Task<ApplyOutcome> WriteAsync(Resource incoming, Resource? existing, CancellationToken ct)
    {
        string kind = Label(incoming.Descriptor);
        if (existing is null)
        {
            if (!await _resources.CreateAsync(incoming, ct).ConfigureAwait(false))
            {
                throw ControlException.Conflict($"{kind}/{incoming.Metadata.Name} was created by someone else meanwhile; apply again");
            }

            return new ApplyOutcome(kind, incoming.Metadata.Name, "created");
        }

        if (SameDesire(incoming, existing))
        {
            return new ApplyOutcome(kind, incoming.Metadata.Name, "unchanged");
        }

        // Take the user's spec, labels and annotations; keep what the system owns (identity, status).
        incoming.Metadata.Uid = existing.Metadata.Uid;
        incoming.Metadata.CreationTimestamp = existing.Metadata.CreationTimestamp;
        incoming.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
        CopyStatus(existing, incoming);
        if (!await _resources.UpdateAsync(incoming, ct).ConfigureAwait(false))
        {
            throw ControlException.Conflict($"{kind}/{incoming.Metadata.Name} changed meanwhile; apply again");
        }

        return new ApplyOutcome(kind, incoming.Metadata.Name, "configured");
    }

    /// <summary>kubectl's name for a kind: "storagepoolclaim.openebs.io", and for the core group just "persistentvolumeclaim".</summary>
    internal static string Label(ResourceKind kind) => kind.ApiVersion.Contains('/', StringComparison.Ordinal)
        ? $"{kind.Kind.ToLowerInvariant()}.{kind.ApiVersion[..kind.ApiVersion.IndexOf('/', StringComparison.Ordinal)]}"
        : kind.Kind.ToLowerInvariant();

    /// <summary>Whether applying <paramref name="incoming"/> over <paramref name="existing"/> would change what the user asked for.</summary>
    internal static bool SameDesire(Resource incoming, Resource existing) => Desire(incoming) == Desire(existing);

    private static string Desire(Resource r)
    {
        var node = JsonSerializer.SerializeToNode(r, r.GetType(), ResourceJson.Options)!.AsObject();
        node.Remove("status");
        node.Remove("apiVersion");
        var meta = node["metadata"]!.AsObject();
        foreach (string owned in new[] { "uid", "creationTimestamp", "deletionTimestamp" })
        {
            meta.Remove(owned);
        }

        if (node["spec"] is System.Text.Json.Nodes.JsonObject spec)
        {
            spec.Remove("volumeName"); // a PVC's binding is the system's
        }

        return node.ToJsonString();
    }

    private static void CopyStatus(Resource from, Resource to)
    {
        var status = from.GetType().GetProperty("Status");
        status?.SetValue(to, status.GetValue(from));
        if (from is PersistentVolumeClaim fromClaim && to is PersistentVolumeClaim toClaim)
        {
            toClaim.Spec.VolumeName = fromClaim.Spec.VolumeName;
        }
    }

    public async Task<string> DeleteAsync(ResourceKind kind, string? ns, string name, CancellationToken ct)
    {
        await _serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var existing = await _resources.GetAsync<Resource>(kind, ns, name, ct).ConfigureAwait(false)
                ?? throw ControlException.NotFound($"{kind.Plural} \"{name}\" not found");
            string label = $"{Label(kind)}/{name}";
            var view = await ClusterView.ReadAsync(store, ct).ConfigureAwait(false);
            switch (existing)
            {
                case StoragePoolClaim claim:
                    var holding = view.Pools.Where(p => p.Spec.Claim == name)
                        .Select(p => (Pool: p.Metadata.Name, Replicas: view.Replicas.Where(r => r.Spec.Pool == p.Metadata.Name).Select(r => r.Spec.Volume).ToList()))
                        .Where(p => p.Replicas.Count > 0)
                        .ToList();
                    if (holding.Count > 0)
                    {
                        throw ControlException.Conflict(
                            $"storagepoolclaim {name} cannot be deleted: its pools hold volumes ({string.Join("; ", holding.Select(h => $"{h.Pool}: {string.Join(", ", h.Replicas)}"))}); delete their claims first");
                    }

                    await MarkDeletingAsync(claim, ct).ConfigureAwait(false);
                    break;
                case Volume volume:
                    await MarkDeletingAsync(volume, ct).ConfigureAwait(false);
                    break;
                case PersistentVolumeClaim or StorageClass:
                    // No precondition, as with kubectl delete: the reconciler writes a claim's status whenever it likes
                    // (a Pending claim's message changes as space frees), and that must not fail the user's delete.
                    await DeleteNowAsync(existing, ct).ConfigureAwait(false);
                    break;
                case Node node:
                    return await ForgetNodeAsync(node, view, ct).ConfigureAwait(false);
                default:
                    throw ControlException.BadRequest($"{label} is made by the control plane; delete the {(kind == ResourceKind.VolumeReplica ? "PersistentVolumeClaim" : "StoragePoolClaim")} that made it instead");
            }

            wake();
            return $"{label} deleted";
        }
        finally
        {
            _serial.Release();
        }
    }

    /// <summary>
    /// Removes a record at once, whatever its node or the reconciler wrote into it meanwhile, and its events: kept by
    /// name, they would pile up in every listing and show up in `describe` of one made again under the same name.
    /// </summary>
    private async Task DeleteNowAsync(Resource resource, CancellationToken ct)
    {
        for (var current = resource; !await _resources.DeleteAsync(current, ct).ConfigureAwait(false);)
        {
            if (await _resources.GetAsync<Resource>(resource.Descriptor, resource.Metadata.Namespace, resource.Metadata.Name, ct).ConfigureAwait(false) is not { } again)
            {
                break; // gone meanwhile
            }

            current = again;
        }

        await _events.DeleteAllAsync(resource, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Forgets a node gone for good: its record, its block devices, its pools and the replica records on them. Only
    /// once its agent has stopped (NotReady), and only when no volume still names a replica on it or is served by it:
    /// such a replica is part of its volume until it is replaced on another node. What the node's disks hold stays
    /// there: should it come back, it registers anew and nothing assigns it those pools.
    /// </summary>
    private async Task<string> ForgetNodeAsync(Node node, ClusterView view, CancellationToken ct)
    {
        string name = node.Metadata.Name;
        if (view.IsReady(name))
        {
            throw ControlException.Conflict($"node {name} cannot be deleted: its agent is running (stop it first)");
        }

        var named = view.Volumes.SelectMany(v => v.Spec.Replicas.Where(r => r.Node == name).Select(r => $"replica {r.Name} of volume {v.Metadata.Name}"))
            .Concat(view.Volumes.Where(v => v.Spec.TargetNode == name).Select(v => $"the target of volume {v.Metadata.Name}"))
            .ToList();
        if (named.Count > 0)
        {
            throw ControlException.Conflict($"node {name} cannot be deleted: it still holds {string.Join("; ", named)}. A replica whose node stays " +
                "NotReady is replaced on another node's pool after --replica-replace-seconds, when one has room; or delete the claim");
        }

        var replicas = view.Replicas.Where(r => r.Spec.Node == name).ToList();
        var pools = view.Pools.Where(p => p.Spec.Node == name).ToList();
        foreach (var resource in replicas.Cast<Resource>().Concat(pools).Concat(view.BlockDevices.Where(d => d.Spec.Node == name)).Append(node))
        {
            await DeleteNowAsync(resource, ct).ConfigureAwait(false);
        }

        string forgotten = replicas.Count + pools.Count == 0 ? ""
            : $" with its pools ({string.Join(", ", pools.Select(p => p.Metadata.Name))}) and replica records ({string.Join(", ", replicas.Select(r => r.Metadata.Name))}); their data stays on its disks";
        wake();
        return $"node/{name} deleted{forgotten}";
    }

    private async Task MarkDeletingAsync(Resource resource, CancellationToken ct)
    {
        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return;
        }

        // Retried on a conflict: node reports and the reconciler write these resources' status at any time.
        var now = DateTimeOffset.UtcNow;
        await _resources.MutateAsync<Resource>(resource.Descriptor, resource.Metadata.Namespace, resource.Metadata.Name, r =>
        {
            if (r.Metadata.DeletionTimestamp is not null)
            {
                return false;
            }

            r.Metadata.DeletionTimestamp = now;
            return true;
        }, ct).ConfigureAwait(false);
    }
}
