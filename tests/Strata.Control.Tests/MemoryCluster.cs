using Strata.Control.Manifests;
using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Strata.Control.Store;
using Strata.State;
using Strata.State.Sqlite;

namespace Strata.Control.Tests;

/// <summary>
/// A control plane's state in an in-memory SQLite store: records written through <see cref="ResourceStore"/>, a node
/// made Ready by its lease key (<see cref="ClusterView.NodeLeasePrefix"/> + name, on a store lease), and the
/// <see cref="ClusterView"/> the reconcilers decide from, read back from the store.
/// </summary>
internal sealed class MemoryCluster : IAsyncDisposable
{
    public const long Gi = 1L << 30;
    public const string Claim = "cstor-pool";

    private readonly List<string> _log = [];

    private MemoryCluster(SqliteStore store)
    {
        Store = store;
        Resources = new ResourceStore(store);
        Context = new ReconcileContext(Resources, new EventRecorder(store, "test"), m => { lock (_log) _log.Add(m); });
    }

    public SqliteStore Store { get; }

    public ResourceStore Resources { get; }

    public ReconcileContext Context { get; }

    public static async Task<MemoryCluster> OpenAsync() => new(await SqliteStore.OpenAsync(":memory:"));

    public Task<ClusterView> ViewAsync() => ClusterView.ReadAsync(Store, CancellationToken.None);

    /// <summary>A registered node; Ready (its lease key is live) unless <paramref name="ready"/> is false.</summary>
    public async Task<Node> AddNodeAsync(string name, bool ready = true, long sparseBytes = 10 * Gi)
    {
        long lease = ready ? await MakeReadyAsync(name) : 0;
        var node = new Node
        {
            Metadata = { Name = name },
            Spec = { Address = "127.0.0.1", IscsiPortal = "127.0.0.1:3260", SparseFileBytes = sparseBytes },
            Status = { Phase = ready ? "Ready" : "NotReady", Lease = lease, RegisteredAt = DateTimeOffset.UtcNow },
        };
        Assert(await Resources.CreateAsync(node), $"node {name} created");
        return node;
    }

    /// <summary>Writes the node's lease key on a fresh lease, as registration does.</summary>
    public async Task<long> MakeReadyAsync(string name)
    {
        long lease = await Store.GrantLeaseAsync(TimeSpan.FromMinutes(10));
        await Store.PutAsync(ClusterView.NodeLeasePrefix + name, "{}"u8.ToArray(), Revision.Any, lease);
        return lease;
    }

    public async Task AddNodesAsync(int count)
    {
        for (int i = 1; i <= count; i++)
        {
            await AddNodeAsync($"node-{i}");
        }
    }

    public async Task<StoragePool> AddPoolAsync(string name, string node, long capacity, string phase = "Healthy", string claim = Claim, bool deleting = false)
    {
        var pool = new StoragePool
        {
            Metadata = { Name = name, DeletionTimestamp = deleting ? DateTimeOffset.UtcNow : null },
            Spec = { Claim = claim, Node = node, Type = "sparse", PoolType = "striped" },
            Status = { Phase = phase, CapacityBytes = capacity, FreeBytes = capacity },
        };
        Assert(await Resources.CreateAsync(pool), $"pool {name} created");
        return pool;
    }

    public async Task<StoragePoolClaim> AddPoolClaimAsync(int maxPools, string name = Claim)
    {
        var claim = new StoragePoolClaim
        {
            Metadata = { Name = name },
            Spec = { Name = name, Type = "sparse", MaxPools = maxPools, PoolSpec = { PoolType = "striped" } },
        };
        Assert(await Resources.CreateAsync(claim), $"claim {name} created");
        return claim;
    }

    public async Task<StorageClass> AddStorageClassAsync(string name, int replicas, string? reclaimPolicy = null, string claim = Claim)
    {
        var sc = new StorageClass
        {
            Metadata =
            {
                Name = name,
                Annotations = new()
                {
                    [CasConfig.AnnotationKey] = $"- name: StoragePoolClaim\n  value: \"{claim}\"\n- name: ReplicaCount\n  value: \"{replicas}\"\n",
                },
            },
            Provisioner = "openebs.io/provisioner-iscsi",
            ReclaimPolicy = reclaimPolicy,
        };
        Assert(await Resources.CreateAsync(sc), $"storage class {name} created");
        return sc;
    }

    public async Task<PersistentVolumeClaim> AddClaimAsync(string name, string storageClass, string size = "1Gi")
    {
        var pvc = new PersistentVolumeClaim
        {
            Metadata = { Name = name, Namespace = "default" },
            Spec = { AccessModes = ["ReadWriteOnce"], StorageClassName = storageClass, Resources = { Requests = new() { ["storage"] = size } } },
        };
        Assert(await Resources.CreateAsync(pvc), $"pvc {name} created");
        return pvc;
    }

    /// <summary>A volume already placed on <paramref name="pools"/> (what ProvisionReconciler writes), and its replicas.</summary>
    public async Task<Volume> AddVolumeAsync(string name, long size, params StoragePool[] pools)
    {
        var volume = new Volume
        {
            Metadata = { Name = name },
            Spec =
            {
                SizeBytes = size,
                Capacity = new() { ["storage"] = Quantity.Format(size) },
                ReplicaCount = pools.Length,
                Replicas = pools.Select(p => new ReplicaPlacement { Name = $"{name}-{p.Metadata.Name}", Pool = p.Metadata.Name, Node = p.Spec.Node }).ToList(),
                TargetNode = pools[0].Spec.Node,
            },
            Status = { Phase = "Bound", State = "Healthy" },
        };
        Assert(await Resources.CreateAsync(volume), $"volume {name} created");
        foreach (var placement in volume.Spec.Replicas)
        {
            var replica = new VolumeReplica
            {
                Metadata = { Name = placement.Name },
                Spec = { Volume = name, Pool = placement.Pool, Node = placement.Node, SizeBytes = size },
                Status = { Phase = "Healthy" },
            };
            Assert(await Resources.CreateAsync(replica), $"replica {placement.Name} created");
        }

        return volume;
    }

    /// <summary>One pass of <paramref name="reconcilers"/> over a fresh view, as the reconcile loop runs them.</summary>
    public async Task PassAsync(params IReconciler[] reconcilers)
    {
        var view = await ViewAsync();
        Context.Requeue = false;
        foreach (var r in reconcilers)
        {
            await r.ReconcileAsync(view, Context, CancellationToken.None);
        }
    }

    public Task<IReadOnlyList<T>> ListAsync<T>(ResourceKind kind)
        where T : Resource => Resources.ListAsync<T>(kind);

    public Task<T?> GetAsync<T>(ResourceKind kind, string name, string? ns = null)
        where T : Resource => Resources.GetAsync<T>(kind, ns, name);

    private static void Assert(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"setup failed: {what}");
        }
    }

    public ValueTask DisposeAsync() => Store.DisposeAsync();
}
