using Strata.Control.Reconcile;
using Strata.Control.Resources;

namespace Strata.Control.Apply;

/// <summary>The checks that need the cluster: enough nodes for a claim, a storage class's pools, a claim's size, what may change.</summary>
internal sealed class ApplyRules(ClusterView view, IReadOnlyList<Resource> batch, string source)
{
    public void Check(Resource incoming, Resource? existing)
    {
        if (existing?.Metadata.DeletionTimestamp is not null)
        {
            Fail(incoming, "is being deleted; wait until it is gone, then apply again");
        }

        switch (incoming)
        {
            case StoragePoolClaim claim:
                CheckPoolClaim(claim, existing as StoragePoolClaim);
                break;
            case StorageClass sc:
                CheckStorageClass(sc, existing as StorageClass);
                break;
            case PersistentVolumeClaim pvc:
                CheckClaim(pvc, existing as PersistentVolumeClaim);
                break;
        }
    }

    private void CheckPoolClaim(StoragePoolClaim claim, StoragePoolClaim? existing)
    {
        int nodes = view.Nodes.Count;
        if (claim.Spec.MaxPools is { } max && max > nodes)
        {
            Fail(claim, $"spec.maxPools: {max} pools need {max} nodes (one pool per node), and {nodes} {(nodes == 1 ? "node is" : "nodes are")} registered{NodeList()}");
        }

        if (existing is null)
        {
            return;
        }

        if (existing.Spec.Type != claim.Spec.Type)
        {
            Fail(claim, $"spec.type cannot change ({existing.Spec.Type} → {claim.Spec.Type}); make a new claim instead");
        }

        if (existing.Spec.PoolSpec.PoolType != claim.Spec.PoolSpec.PoolType)
        {
            Fail(claim, $"spec.poolSpec.poolType cannot change ({existing.Spec.PoolSpec.PoolType} → {claim.Spec.PoolSpec.PoolType}); make a new claim instead");
        }

        if (claim.Spec.MaxPools < existing.Spec.MaxPools)
        {
            Fail(claim, $"spec.maxPools cannot shrink ({existing.Spec.MaxPools} → {claim.Spec.MaxPools}): its pools may hold volumes");
        }
    }

    private void CheckStorageClass(StorageClass sc, StorageClass? existing)
    {
        var parameters = StorageClassParameters.Of(sc);
        var claim = FindPoolClaim(parameters.PoolClaim);
        if (claim is null)
        {
            Fail(sc, $"cas.openebs.io/config: StoragePoolClaim '{parameters.PoolClaim}' does not exist{Known(view.PoolClaims)}; apply it first");
        }

        int pools = claim!.Spec.MaxPools ?? PoolClaimReconciler.Target(view, claim);
        if (parameters.ReplicaCount > pools)
        {
            Fail(sc, $"cas.openebs.io/config: ReplicaCount {parameters.ReplicaCount} needs {parameters.ReplicaCount} pools on distinct nodes, and storage pool claim {claim.Metadata.Name} makes at most {pools}");
        }

        if (parameters.ReplicaCount > view.Nodes.Count)
        {
            Fail(sc, $"cas.openebs.io/config: ReplicaCount {parameters.ReplicaCount} needs {parameters.ReplicaCount} nodes, and {view.Nodes.Count} are registered{NodeList()}");
        }

        if (existing is not null && !ApplyService.SameDesire(sc, existing))
        {
            Fail(sc, "a StorageClass cannot change once made (as in Kubernetes); delete it and apply it again");
        }
    }

    private void CheckClaim(PersistentVolumeClaim pvc, PersistentVolumeClaim? existing)
    {
        var sc = view.StorageClasses.FirstOrDefault(s => s.Metadata.Name == pvc.Spec.StorageClassName)
            ?? batch.OfType<StorageClass>().FirstOrDefault(s => s.Metadata.Name == pvc.Spec.StorageClassName);
        if (sc is null)
        {
            Fail(pvc, $"spec.storageClassName: storage class '{pvc.Spec.StorageClassName}' does not exist{Known(view.StorageClasses)}");
        }

        long size = Quantity.Parse(pvc.Spec.Resources.Requests["storage"], "spec.resources.requests.storage");
        var parameters = StorageClassParameters.Of(sc!);
        var pools = view.Pools.Where(p => p.Spec.Claim == parameters.PoolClaim && p.Status.CapacityBytes > 0).ToList();
        long largest = pools.Count > 0
            ? pools.Max(p => p.Status.CapacityBytes)
            : FindPoolClaim(parameters.PoolClaim)?.Spec.Type == "sparse" && view.Nodes.Count > 0 ? view.Nodes.Max(n => n.Spec.SparseFileBytes) : long.MaxValue;
        if (size > largest)
        {
            Fail(pvc, $"spec.resources.requests.storage: {Quantity.Format(size)} is more than any pool of storage pool claim {parameters.PoolClaim} can hold (the largest holds {Readable(largest)})");
        }

        if (existing is not null && !ApplyService.SameDesire(pvc, existing))
        {
            Fail(pvc, "spec cannot change once made (resizing is not supported yet); delete the claim and apply it again");
        }
    }

    private StoragePoolClaim? FindPoolClaim(string name) =>
        view.PoolClaims.FirstOrDefault(c => c.Metadata.Name == name && c.Metadata.DeletionTimestamp is null)
        ?? batch.OfType<StoragePoolClaim>().FirstOrDefault(c => c.Metadata.Name == name);

    /// <summary>A size people can compare with what they asked for: exact when short (10Gi), else about so much (about 9.92Gi, not 10403776Ki).</summary>
    private static string Readable(long bytes)
    {
        string exact = Quantity.Format(bytes);
        string human = Quantity.FormatHuman(bytes);
        return exact.Length <= 6 || !char.IsLetter(human[^1]) ? exact : $"about {human}i";
    }

    private string NodeList() => view.Nodes.Count == 0 ? "" : $" ({string.Join(", ", view.Nodes.Select(n => n.Metadata.Name).Order(StringComparer.Ordinal))})";

    private static string Known(IEnumerable<Resource> items)
    {
        var names = items.Select(i => i.Metadata.Name).Order(StringComparer.Ordinal).ToList();
        return names.Count == 0 ? "" : $" (there are: {string.Join(", ", names)})";
    }

    private void Fail(Resource r, string problem) =>
        throw ControlException.BadRequest($"{source} ({r.Descriptor.Kind} {r.QualifiedName}): {problem}");
}
