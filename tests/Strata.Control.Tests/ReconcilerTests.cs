using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Xunit;
using static Strata.Control.Tests.MemoryCluster;

namespace Strata.Control.Tests;

/// <summary>The reconcilers, one pass at a time over a view read from an in-memory store, as the reconcile loop runs them.</summary>
public sealed class ReconcilerTests : IAsyncLifetime
{
    private MemoryCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await OpenAsync();

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private Task<IReadOnlyList<StoragePool>> PoolsAsync() => _cluster.ListAsync<StoragePool>(ResourceKind.StoragePool);

    // ---- PoolClaimReconciler ----

    [Fact]
    public async Task A_pool_claim_gets_exactly_maxPools_pools_on_distinct_Ready_nodes_and_no_more_on_later_passes()
    {
        await _cluster.AddNodeAsync("node-1");
        await _cluster.AddNodeAsync("node-2", ready: false);
        await _cluster.AddNodeAsync("node-3");
        await _cluster.AddNodeAsync("node-4");
        await _cluster.AddNodeAsync("node-5");
        await _cluster.AddPoolClaimAsync(3);

        await _cluster.PassAsync(new PoolClaimReconciler());
        var pools = await PoolsAsync();
        Assert.Equal(3, pools.Count);
        Assert.Equal(3, pools.Select(p => p.Spec.Node).Distinct().Count());
        Assert.DoesNotContain(pools, p => p.Spec.Node == "node-2");
        Assert.All(pools, p =>
        {
            Assert.StartsWith("cstor-pool-", p.Metadata.Name, StringComparison.Ordinal);
            Assert.Equal(Claim, p.Spec.Claim);
            Assert.Equal("sparse", p.Spec.Type);
            Assert.Equal("striped", p.Spec.PoolType);
            Assert.Equal("Pending", p.Status.Phase);
        });

        for (int pass = 0; pass < 3; pass++)
        {
            await _cluster.PassAsync(new PoolClaimReconciler());
        }

        Assert.Equal(pools.Select(p => p.Metadata.Uid).Order(), (await PoolsAsync()).Select(p => p.Metadata.Uid).Order());
        var claim = (await _cluster.GetAsync<StoragePoolClaim>(ResourceKind.StoragePoolClaim, Claim))!;
        Assert.Equal("Online", claim.Status.Phase);
        Assert.Equal("3 of 3 pools made (0 Healthy)", Conditions.Find(claim.Status.Conditions, "PoolsProvisioned")!.Message);
    }

    [Fact]
    public async Task A_pool_claim_waits_for_enough_Ready_nodes_and_makes_the_rest_when_they_come()
    {
        await _cluster.AddNodeAsync("node-1");
        await _cluster.AddNodeAsync("node-2");
        await _cluster.AddNodeAsync("node-3", ready: false);
        await _cluster.AddPoolClaimAsync(3);

        await _cluster.PassAsync(new PoolClaimReconciler());
        await _cluster.PassAsync(new PoolClaimReconciler());
        Assert.Equal(["node-1", "node-2"], (await PoolsAsync()).Select(p => p.Spec.Node).Order(StringComparer.Ordinal));
        var claim = (await _cluster.GetAsync<StoragePoolClaim>(ResourceKind.StoragePoolClaim, Claim))!;
        Assert.Equal("Pending", claim.Status.Phase);
        var condition = Conditions.Find(claim.Status.Conditions, "PoolsProvisioned")!;
        Assert.Equal("False", condition.Status);
        Assert.Equal("2 of 3 pools made: needs 3 Ready nodes without a pool of this claim, 2 nodes are Ready", condition.Message);

        await _cluster.MakeReadyAsync("node-3");
        await _cluster.PassAsync(new PoolClaimReconciler());
        Assert.Equal(["node-1", "node-2", "node-3"], (await PoolsAsync()).Select(p => p.Spec.Node).Order(StringComparer.Ordinal));
        await _cluster.PassAsync(new PoolClaimReconciler());
        Assert.Equal(3, (await PoolsAsync()).Count);
        Assert.Equal("Online", (await _cluster.GetAsync<StoragePoolClaim>(ResourceKind.StoragePoolClaim, Claim))!.Status.Phase);
    }

    // ---- NodeHealthReconciler ----

    [Fact]
    public async Task A_node_without_a_lease_is_NotReady_and_what_it_hosts_is_Offline_naming_it()
    {
        await _cluster.AddNodeAsync("node-1");
        await _cluster.AddNodeAsync("node-2", ready: false);
        var live = await _cluster.AddPoolAsync("pool-1", "node-1", 10 * Gi);
        var lost = await _cluster.AddPoolAsync("pool-2", "node-2", 10 * Gi);
        await _cluster.AddVolumeAsync("pvc-1", Gi, live, lost);

        await _cluster.PassAsync(new NodeHealthReconciler());

        var node2 = (await _cluster.GetAsync<Node>(ResourceKind.Node, "node-2"))!;
        Assert.Equal("NotReady", node2.Status.Phase);
        var ready = Conditions.Find(node2.Status.Conditions, "Ready")!;
        Assert.Equal(("False", "NodeLeaseExpired"), (ready.Status, ready.Reason));
        Assert.Equal("Ready", (await _cluster.GetAsync<Node>(ResourceKind.Node, "node-1"))!.Status.Phase);

        var pool2 = (await _cluster.GetAsync<StoragePool>(ResourceKind.StoragePool, "pool-2"))!;
        Assert.Equal("Offline", pool2.Status.Phase);
        AssertNodeNotReady(pool2.Status.Conditions, "node-2");
        Assert.Equal("Healthy", (await _cluster.GetAsync<StoragePool>(ResourceKind.StoragePool, "pool-1"))!.Status.Phase);

        var replicas = await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica);
        var offline = Assert.Single(replicas, r => r.Spec.Node == "node-2");
        Assert.Equal("Offline", offline.Status.Phase);
        AssertNodeNotReady(offline.Status.Conditions, "node-2");
        Assert.Equal("Healthy", Assert.Single(replicas, r => r.Spec.Node == "node-1").Status.Phase);

        // Its lease back, the node is Ready again (its own reports bring what it hosts back).
        await _cluster.MakeReadyAsync("node-2");
        await _cluster.PassAsync(new NodeHealthReconciler());
        Assert.Equal("Ready", (await _cluster.GetAsync<Node>(ResourceKind.Node, "node-2"))!.Status.Phase);
    }

    private static void AssertNodeNotReady(List<Condition>? conditions, string node)
    {
        var c = Conditions.Find(conditions, "NodeReady");
        Assert.NotNull(c);
        Assert.Equal(("False", "NodeNotReady"), (c.Status, c.Reason));
        Assert.Contains($"node {node} is NotReady", c.Message, StringComparison.Ordinal);
    }

    // ---- ProvisionReconciler + VolumeReconciler ----

    private async Task ThreePoolsAsync(int readyNodes = 3, long capacity = 10 * Gi)
    {
        await _cluster.AddPoolClaimAsync(3);
        for (int i = 1; i <= 3; i++)
        {
            await _cluster.AddNodeAsync($"node-{i}", ready: i <= readyNodes);
            await _cluster.AddPoolAsync($"cstor-pool-{(char)('a' + i - 1)}", $"node-{i}", capacity);
        }
    }

    private Task ProvisionPassAsync() => _cluster.PassAsync(new ProvisionReconciler(), new VolumeReconciler());

    [Fact]
    public async Task A_claim_gets_a_volume_with_ReplicaCount_placements_and_their_replicas()
    {
        await ThreePoolsAsync();
        await _cluster.AddStorageClassAsync("openebs-sparse-sc", replicas: 2);
        var pvc = await _cluster.AddClaimAsync("mongo-pvc", "openebs-sparse-sc");

        await ProvisionPassAsync();

        var volume = Assert.Single(await _cluster.ListAsync<Volume>(ResourceKind.Volume));
        Assert.Equal($"pvc-{pvc.Metadata.Uid}", volume.Metadata.Name);
        Assert.Equal(2, volume.Spec.ReplicaCount);
        Assert.Equal(2, volume.Spec.Replicas.Count);
        Assert.Equal(2, volume.Spec.Replicas.Select(r => r.Node).Distinct().Count());
        Assert.Equal(Gi, volume.Spec.SizeBytes);
        Assert.Equal("1Gi", volume.Spec.Capacity["storage"]);
        Assert.Equal("Delete", volume.Spec.PersistentVolumeReclaimPolicy);
        Assert.Equal(pvc.Metadata.Uid, volume.Spec.ClaimRef!.Uid);
        Assert.Equal(volume.Spec.Replicas[0].Node, volume.Spec.TargetNode);
        Assert.Equal(ProvisionReconciler.IqnPrefix + volume.Metadata.Name, volume.Spec.Iscsi.Iqn);

        var replicas = await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica);
        Assert.Equal(volume.Spec.Replicas.Select(r => (r.Name, r.Pool, r.Node)).Order(), replicas.Select(r => (r.Metadata.Name, r.Spec.Pool, r.Spec.Node)).Order());
        Assert.All(replicas, r => Assert.Equal((volume.Metadata.Name, Gi, "Pending"), (r.Spec.Volume, r.Spec.SizeBytes, r.Status.Phase)));

        var claim = (await _cluster.GetAsync<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim, "mongo-pvc", "default"))!;
        Assert.Equal(volume.Metadata.Name, claim.Spec.VolumeName);
        Assert.Equal("Pending", claim.Status.Phase); // Bound once the target serves its first replica

        // Later passes place nothing more.
        await ProvisionPassAsync();
        await ProvisionPassAsync();
        Assert.Single(await _cluster.ListAsync<Volume>(ResourceKind.Volume));
        Assert.Equal(2, (await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica)).Count);
    }

    [Fact]
    public async Task A_claim_is_Pending_saying_how_many_pools_it_needs_when_there_are_too_few()
    {
        await ThreePoolsAsync(readyNodes: 2);
        await _cluster.AddStorageClassAsync("three-sc", replicas: 3);
        await _cluster.AddClaimAsync("mongo-pvc", "three-sc");

        await ProvisionPassAsync();

        Assert.Empty(await _cluster.ListAsync<Volume>(ResourceKind.Volume));
        var claim = (await _cluster.GetAsync<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim, "mongo-pvc", "default"))!;
        Assert.Equal("Pending", claim.Status.Phase);
        var provisioned = Conditions.Find(claim.Status.Conditions, "Provisioned")!;
        Assert.Equal(("False", "ProvisioningFailed"), (provisioned.Status, provisioned.Reason));
        Assert.Equal("needs 3 pools of cstor-pool on distinct nodes with 1Gi free, 2 are available (cstor-pool-c's node node-3 is NotReady)", provisioned.Message);

        // The third node back, the claim is placed on the next pass.
        await _cluster.MakeReadyAsync("node-3");
        await ProvisionPassAsync();
        Assert.Equal(3, Assert.Single(await _cluster.ListAsync<Volume>(ResourceKind.Volume)).Spec.Replicas.Count);
    }

    [Fact]
    public async Task A_claim_of_a_storage_class_that_does_not_exist_is_Pending_naming_it()
    {
        await ThreePoolsAsync();
        await _cluster.AddClaimAsync("mongo-pvc", "no-such-sc");
        await ProvisionPassAsync();
        var claim = (await _cluster.GetAsync<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim, "mongo-pvc", "default"))!;
        Assert.Equal("storage class 'no-such-sc' does not exist", Conditions.Find(claim.Status.Conditions, "Provisioned")!.Message);
    }

    [Fact]
    public async Task Three_hundred_claims_in_one_pass_never_overpromise_a_pool_and_spread_evenly()
    {
        await ThreePoolsAsync(capacity: 150 * Gi);
        await _cluster.AddStorageClassAsync("openebs-sparse-sc", replicas: 2);
        for (int i = 0; i < 300; i++)
        {
            await _cluster.AddClaimAsync($"pvc-{i:D3}", "openebs-sparse-sc");
        }

        await _cluster.PassAsync(new ProvisionReconciler());

        var view = await _cluster.ViewAsync();
        Assert.Equal(225, view.Volumes.Count);
        var perPool = view.Pools.Select(p => view.Volumes.Count(v => v.Spec.Replicas.Any(r => r.Pool == p.Metadata.Name))).ToList();
        Assert.Equal([150, 150, 150], perPool);
        Assert.All(view.Pools, p => Assert.Equal(p.Status.CapacityBytes, Placement.Promised(view, p.Metadata.Name)));
        var pending = view.Claims.Where(c => c.Spec.VolumeName is null).ToList();
        Assert.Equal(75, pending.Count);
        Assert.All(pending, c => Assert.StartsWith("needs 2 pools of cstor-pool on distinct nodes with 1Gi free, 0 are available",
            Conditions.Find(c.Status.Conditions, "Provisioned")!.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deleting_a_claim_deletes_its_volume_with_reclaim_policy_Delete()
    {
        await ThreePoolsAsync();
        await _cluster.AddStorageClassAsync("openebs-sparse-sc", replicas: 2);
        await _cluster.AddClaimAsync("mongo-pvc", "openebs-sparse-sc");
        await ProvisionPassAsync();
        var claim = (await _cluster.GetAsync<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim, "mongo-pvc", "default"))!;
        Assert.True(await _cluster.Resources.DeleteAsync(claim));

        await ProvisionPassAsync();
        var volume = Assert.Single(await _cluster.ListAsync<Volume>(ResourceKind.Volume));
        Assert.NotNull(volume.Metadata.DeletionTimestamp);
        Assert.Equal("its claim default/mongo-pvc was deleted; deleting the volume (reclaim policy Delete)", volume.Status.Message);

        // The next pass asks the nodes to release the replicas; once they are gone, the volume goes.
        await ProvisionPassAsync();
        var replicas = await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica);
        Assert.Equal(2, replicas.Count);
        Assert.All(replicas, r => Assert.NotNull(r.Metadata.DeletionTimestamp));
        foreach (var r in replicas)
        {
            Assert.True(await _cluster.Resources.DeleteAsync(r)); // what a node's finalization does
        }

        await ProvisionPassAsync();
        Assert.Empty(await _cluster.ListAsync<Volume>(ResourceKind.Volume));
    }

    [Fact]
    public async Task Deleting_a_claim_keeps_its_volume_Released_with_reclaim_policy_Retain()
    {
        await ThreePoolsAsync();
        await _cluster.AddStorageClassAsync("keep-sc", replicas: 2, reclaimPolicy: "Retain");
        await _cluster.AddClaimAsync("mongo-pvc", "keep-sc");
        await ProvisionPassAsync();
        var claim = (await _cluster.GetAsync<PersistentVolumeClaim>(ResourceKind.PersistentVolumeClaim, "mongo-pvc", "default"))!;
        Assert.True(await _cluster.Resources.DeleteAsync(claim));

        await ProvisionPassAsync();
        await ProvisionPassAsync();
        var volume = Assert.Single(await _cluster.ListAsync<Volume>(ResourceKind.Volume));
        Assert.Equal("Retain", volume.Spec.PersistentVolumeReclaimPolicy);
        Assert.Null(volume.Metadata.DeletionTimestamp);
        Assert.Equal("Released", volume.Status.Phase);
        Assert.Equal("its claim default/mongo-pvc was deleted; the data is kept (reclaim policy Retain)", volume.Status.Message);
        var replicas = await _cluster.ListAsync<VolumeReplica>(ResourceKind.VolumeReplica);
        Assert.Equal(2, replicas.Count);
        Assert.All(replicas, r => Assert.Null(r.Metadata.DeletionTimestamp));
    }
}
