using Strata.Control.Resources;
using Strata.Control.Store;
using Strata.State;

namespace Strata.Control.Reconcile;

/// <summary>Every resource and live node lease, read at one store revision: what one reconcile pass decides from.</summary>
public sealed class ClusterView
{
    public const string NodeLeasePrefix = "/strata/leases/nodes/";

    public required long Revision { get; init; }

    public required List<Node> Nodes { get; init; }

    public required HashSet<string> LiveNodeLeases { get; init; }

    public required List<BlockDevice> BlockDevices { get; init; }

    public required List<StoragePoolClaim> PoolClaims { get; init; }

    public required List<StoragePool> Pools { get; init; }

    public required List<StorageClass> StorageClasses { get; init; }

    public required List<PersistentVolumeClaim> Claims { get; init; }

    public required List<Volume> Volumes { get; init; }

    public required List<VolumeReplica> Replicas { get; init; }

    public static async Task<ClusterView> ReadAsync(IStore store, CancellationToken ct)
    {
        var list = await store.ListAsync("/strata/", ct).ConfigureAwait(false);
        var byKind = new Dictionary<ResourceKind, List<Resource>>();
        var leases = new HashSet<string>(StringComparer.Ordinal);
        foreach (var record in list.Records)
        {
            if (record.Key.StartsWith(NodeLeasePrefix, StringComparison.Ordinal))
            {
                leases.Add(record.Key[NodeLeasePrefix.Length..]);
                continue;
            }

            var kind = ResourceKind.All.FirstOrDefault(k => record.Key.StartsWith(k.KeyPrefix, StringComparison.Ordinal));
            if (kind is null)
            {
                continue;
            }

            if (!byKind.TryGetValue(kind, out var items))
            {
                byKind[kind] = items = [];
            }

            items.Add(ResourceStore.Decode(record, kind));
        }

        List<T> Of<T>(ResourceKind k) => byKind.TryGetValue(k, out var items) ? items.Cast<T>().ToList() : [];
        return new ClusterView
        {
            Revision = list.Revision,
            Nodes = Of<Node>(ResourceKind.Node),
            LiveNodeLeases = leases,
            BlockDevices = Of<BlockDevice>(ResourceKind.BlockDevice),
            PoolClaims = Of<StoragePoolClaim>(ResourceKind.StoragePoolClaim),
            Pools = Of<StoragePool>(ResourceKind.StoragePool),
            StorageClasses = Of<StorageClass>(ResourceKind.StorageClass),
            Claims = Of<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim),
            Volumes = Of<Volume>(ResourceKind.Volume),
            Replicas = Of<VolumeReplica>(ResourceKind.VolumeReplica),
        };
    }

    public bool IsReady(string node) => LiveNodeLeases.Contains(node);

    public IEnumerable<Node> ReadyNodes => Nodes.Where(n => IsReady(n.Metadata.Name)).OrderBy(n => n.Metadata.Name, StringComparer.Ordinal);

    /// <summary>Bytes promised to volume replicas on <paramref name="pool"/>: the sum of their sizes.</summary>
    public long ReservedBytes(string pool) => Replicas.Where(r => r.Spec.Pool == pool).Sum(r => r.Spec.SizeBytes);
}
