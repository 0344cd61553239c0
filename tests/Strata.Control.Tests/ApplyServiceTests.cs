using Strata.Control.Apply;
using Strata.Control.Resources;
using Xunit;
using static Strata.Control.Tests.MemoryCluster;

namespace Strata.Control.Tests;

/// <summary>`strata apply` and `strata delete` in-process: every document is checked against the cluster before anything is written.</summary>
public sealed class ApplyServiceTests : IAsyncLifetime
{
    private MemoryCluster _cluster = null!;
    private ApplyService _apply = null!;
    private int _wakes;

    private static readonly string PoolClaim = Repo.ReadText("deploy/examples/cstor-pool-config.yaml");
    private static readonly string StorageClass = Repo.ReadText("deploy/examples/storageclass.yaml");
    private static readonly string Claim = Repo.ReadText("deploy/examples/pvc.yaml");

    public async Task InitializeAsync()
    {
        _cluster = await OpenAsync();
        _apply = new ApplyService(_cluster.Store, () => Interlocked.Increment(ref _wakes));
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private Task<IReadOnlyList<ApplyOutcome>> ApplyAsync(string manifest, string source = "x.yaml") => _apply.ApplyAsync(manifest, source, CancellationToken.None);

    private async Task<ControlException> RefusedAsync(string manifest, string source = "x.yaml")
    {
        var e = await Assert.ThrowsAsync<ControlException>(() => ApplyAsync(manifest, source));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    /// <summary>Every record under /strata/ but events, with its revision: equal snapshots mean nothing was written.</summary>
    private async Task<string> SnapshotAsync()
    {
        var list = await _cluster.Store.ListAsync("/strata/");
        return string.Join("\n", list.Records.Where(r => !r.Key.StartsWith("/strata/events/", StringComparison.Ordinal)).Select(r => $"{r.Key}@{r.Revision}"));
    }

    private static string Seed => $"{PoolClaim}\n---\n{StorageClass}\n---\n{Claim}";

    [Fact]
    public async Task The_seed_files_apply_in_order_and_again_unchanged()
    {
        await _cluster.AddNodesAsync(3);
        Assert.Equal(["storagepoolclaim.openebs.io/cstor-pool created"], (await ApplyAsync(PoolClaim)).Select(o => o.ToString()));
        Assert.Equal(["storageclass.storage.k8s.io/openebs-sparse-sc created"], (await ApplyAsync(StorageClass)).Select(o => o.ToString()));
        Assert.Equal(["persistentvolumeclaim/mongo-pvc created"], (await ApplyAsync(Claim)).Select(o => o.ToString()));
        Assert.Equal(3, _wakes);

        string before = await SnapshotAsync();
        var again = await ApplyAsync(Seed, "seed.yaml");
        Assert.Equal(
            ["storagepoolclaim.openebs.io/cstor-pool unchanged", "storageclass.storage.k8s.io/openebs-sparse-sc unchanged", "persistentvolumeclaim/mongo-pvc unchanged"],
            again.Select(o => o.ToString()));
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_claim_with_its_status_and_binding_set_by_the_control_plane_is_still_unchanged()
    {
        await _cluster.AddNodesAsync(3);
        await ApplyAsync(Seed);
        var pvc = (await _cluster.GetAsync<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim, "mongo-pvc", "default"))!;
        string uid = pvc.Metadata.Uid!;
        pvc.Spec.VolumeName = "pvc-" + uid;
        pvc.Status.Phase = "Bound";
        Assert.True(await _cluster.Resources.UpdateAsync(pvc));
        string before = await SnapshotAsync();

        Assert.Equal("unchanged", Assert.Single(await ApplyAsync(Claim)).Action);
        Assert.Equal(before, await SnapshotAsync());

        var changed = await RefusedAsync(Claim.Replace("storage: 1Gi", "storage: 2Gi", StringComparison.Ordinal), "pvc.yaml");
        Assert.Equal("pvc.yaml (PersistentVolumeClaim default/mongo-pvc): spec cannot change once made (resizing is not supported yet); delete the claim and apply it again", changed.Message);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_manifest_whose_later_document_is_refused_writes_nothing()
    {
        await _cluster.AddNodesAsync(3);
        string before = await SnapshotAsync();

        // The third document fails against the cluster: no storage class of that name, in the store or the manifest.
        var e = await RefusedAsync($"{PoolClaim}\n---\n{StorageClass}\n---\n{Claim.Replace("storageClassName: openebs-sparse-sc", "storageClassName: fast-sc", StringComparison.Ordinal)}", "all.yaml");
        Assert.Equal(400, e.Status);
        Assert.Equal("all.yaml (PersistentVolumeClaim default/mongo-pvc): spec.storageClassName: storage class 'fast-sc' does not exist", e.Message);
        Assert.Equal(before, await SnapshotAsync());

        // The second fails its schema.
        e = await RefusedAsync($"{PoolClaim}\n---\n{Claim.Replace("storage: 1Gi", "storage: 1GB", StringComparison.Ordinal)}", "all.yaml");
        Assert.Equal("all.yaml: document 2 (PersistentVolumeClaim mongo-pvc): spec.resources.requests.storage: '1GB' is not a quantity (examples: 1Gi, 500Mi, 10G)", e.Message);
        Assert.Equal(before, await SnapshotAsync());

        // The second asks for more replicas than the first claim makes pools.
        e = await RefusedAsync($"{PoolClaim.Replace("maxPools: 3", "maxPools: 2", StringComparison.Ordinal)}\n---\n{StorageClass.Replace("value: \"2\"", "value: \"3\"", StringComparison.Ordinal)}", "all.yaml");
        Assert.Equal("all.yaml (StorageClass openebs-sparse-sc): cas.openebs.io/config: ReplicaCount 3 needs 3 pools on distinct nodes, and storage pool claim cstor-pool makes at most 2", e.Message);
        Assert.Equal(before, await SnapshotAsync());
        Assert.Equal(0, _wakes);

        // All three valid, in one manifest: each may name what an earlier document makes.
        Assert.Equal(["created", "created", "created"], (await ApplyAsync(Seed)).Select(o => o.Action));
    }

    [Fact]
    public async Task A_manifest_giving_the_same_resource_twice_writes_nothing()
    {
        await _cluster.AddNodesAsync(3);
        await ApplyAsync($"{PoolClaim}\n---\n{StorageClass}");
        string before = await SnapshotAsync();

        var e = await RefusedAsync($"{Claim}\n---\n{Claim.Replace("storage: 1Gi", "storage: 2Gi", StringComparison.Ordinal)}", "twice.yaml");
        Assert.Equal("twice.yaml (PersistentVolumeClaim default/mongo-pvc): is given 2 times; a manifest may give each resource once", e.Message);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_pool_claim_of_more_pools_than_registered_nodes_is_refused()
    {
        await _cluster.AddNodeAsync("node-1");
        await _cluster.AddNodeAsync("node-2", ready: false); // registered, though NotReady: it counts
        var e = await RefusedAsync(PoolClaim, "cstor-pool-config.yaml");
        Assert.Equal(400, e.Status);
        Assert.Equal("cstor-pool-config.yaml (StoragePoolClaim cstor-pool): spec.maxPools: 3 pools need 3 nodes (one pool per node), and 2 nodes are registered (node-1, node-2)", e.Message);
        Assert.Empty(await _cluster.ListAsync<StoragePoolClaim>(ResourceKind.StoragePoolClaim));

        await _cluster.AddNodeAsync("node-3");
        Assert.Equal("created", Assert.Single(await ApplyAsync(PoolClaim)).Action);
        e = await RefusedAsync(PoolClaim.Replace("maxPools: 3", "maxPools: 4", StringComparison.Ordinal));
        Assert.Contains("spec.maxPools: 4 pools need 4 nodes (one pool per node), and 3 nodes are registered", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_claim_larger_than_any_pool_is_refused_naming_the_largest()
    {
        await _cluster.AddNodesAsync(3);
        await ApplyAsync($"{PoolClaim}\n---\n{StorageClass}");
        var e = await RefusedAsync(Claim.Replace("storage: 1Gi", "storage: 100Gi", StringComparison.Ordinal), "pvc.yaml");
        Assert.Equal("pvc.yaml (PersistentVolumeClaim default/mongo-pvc): spec.resources.requests.storage: 100Gi is more than any pool of storage pool claim cstor-pool can hold (the largest holds 10Gi)", e.Message);

        // Once pools report, their capacity (less than the file: labels and metadata) is what counts.
        await _cluster.AddPoolAsync("cstor-pool-a", "node-1", 10403776L << 10);
        e = await RefusedAsync(Claim.Replace("storage: 1Gi", "storage: 100Gi", StringComparison.Ordinal), "pvc.yaml");
        Assert.EndsWith("(the largest holds about 9.92Gi)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_pool_claim_whose_pools_hold_volumes_is_refused_naming_them()
    {
        await _cluster.AddNodesAsync(3);
        await ApplyAsync(PoolClaim);
        var a = await _cluster.AddPoolAsync("cstor-pool-a", "node-1", 10 * Gi);
        var b = await _cluster.AddPoolAsync("cstor-pool-b", "node-2", 10 * Gi);
        await _cluster.AddPoolAsync("cstor-pool-c", "node-3", 10 * Gi);
        await _cluster.AddVolumeAsync("pvc-1234", Gi, a, b);
        string before = await SnapshotAsync();

        var e = await Assert.ThrowsAsync<ControlException>(() => _apply.DeleteAsync(ResourceKind.StoragePoolClaim, null, "cstor-pool", CancellationToken.None));
        Assert.Equal(409, e.Status);
        Assert.Equal("storagepoolclaim cstor-pool cannot be deleted: its pools hold volumes (cstor-pool-a: pvc-1234; cstor-pool-b: pvc-1234); delete their claims first", e.Message);
        Assert.Equal(before, await SnapshotAsync());
        Assert.Null((await _cluster.GetAsync<StoragePoolClaim>(ResourceKind.StoragePoolClaim, "cstor-pool"))!.Metadata.DeletionTimestamp);

        // Its replicas gone, the claim is marked for deletion (its pools go first).
        foreach (var r in await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica))
        {
            Assert.True(await _cluster.Resources.DeleteAsync(r));
        }

        Assert.Equal("storagepoolclaim.openebs.io/cstor-pool deleted", await _apply.DeleteAsync(ResourceKind.StoragePoolClaim, null, "cstor-pool", CancellationToken.None));
        Assert.NotNull((await _cluster.GetAsync<StoragePoolClaim>(ResourceKind.StoragePoolClaim, "cstor-pool"))!.Metadata.DeletionTimestamp);
    }

    [Fact]
    public async Task Deleting_what_does_not_exist_is_NotFound()
    {
        var e = await Assert.ThrowsAsync<ControlException>(() => _apply.DeleteAsync(ResourceKind.PersistentVolumeClaim, "default", "nothing", CancellationToken.None));
        Assert.Equal(404, e.Status);
        Assert.Equal("persistentvolumeclaims \"nothing\" not found", e.Message);
    }
}
