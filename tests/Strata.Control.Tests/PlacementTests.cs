using Strata.Control.Reconcile;
using Strata.Control.Resources;
using Xunit;
using static Strata.Control.Tests.MemoryCluster;

namespace Strata.Control.Tests;

/// <summary>Where a volume's replicas go: distinct nodes, the roomiest pools first, never more promised than a pool holds.</summary>
public sealed class PlacementTests : IAsyncLifetime
{
    private MemoryCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await OpenAsync();

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static string[] Names(Placement.Choice choice) => choice.Pools.Select(p => p.Metadata.Name).ToArray();

    [Fact]
    public async Task Replicas_go_to_distinct_nodes_the_roomiest_pool_first()
    {
        await _cluster.AddNodesAsync(3);
        await _cluster.AddPoolAsync("pool-a", "node-1", 10 * Gi);
        await _cluster.AddPoolAsync("pool-b", "node-1", 20 * Gi); // node-1's roomiest: the only one of node-1 to be chosen
        await _cluster.AddPoolAsync("pool-c", "node-2", 5 * Gi);
        await _cluster.AddPoolAsync("pool-d", "node-3", 8 * Gi);
        await _cluster.AddPoolAsync("other-claim", "node-2", 100 * Gi, claim: "another-claim");

        var view = await _cluster.ViewAsync();
        var three = Placement.Choose(view, Claim, 3, Gi);
        Assert.Null(three.Problem);
        Assert.Equal(["pool-b", "pool-d", "pool-c"], Names(three));
        Assert.Equal(3, three.Pools.Select(p => p.Spec.Node).Distinct().Count());

        Assert.Equal(["pool-b"], Names(Placement.Choose(view, Claim, 1, Gi)));
        var four = Placement.Choose(view, Claim, 4, Gi);
        Assert.Empty(four.Pools);
        Assert.Equal("needs 4 pools of cstor-pool on distinct nodes with 1Gi free, 3 are available", four.Problem);
    }

    [Fact]
    public async Task Room_is_capacity_less_what_volumes_were_promised()
    {
        await _cluster.AddNodesAsync(3);
        var a = await _cluster.AddPoolAsync("pool-a", "node-1", 10 * Gi);
        var b = await _cluster.AddPoolAsync("pool-b", "node-2", 20 * Gi);
        await _cluster.AddPoolAsync("pool-c", "node-3", 8 * Gi);
        await _cluster.AddVolumeAsync("pvc-1", 15 * Gi, b, a); // pool-b keeps 5Gi unpromised; pool-a (10Gi) is promised more than it holds

        var view = await _cluster.ViewAsync();
        Assert.Equal(15 * Gi, Placement.Promised(view, "pool-b"));
        Assert.Equal(15 * Gi, Placement.Promised(view, "pool-a"));
        Assert.Equal(0, Placement.Promised(view, "pool-c"));

        var two = Placement.Choose(view, Claim, 2, Gi);
        Assert.Equal(["pool-c", "pool-b"], Names(two)); // 8Gi of room, then 5Gi; pool-a is over-promised already

        // A pool whose unpromised room is smaller than the volume is never chosen, even when it alone would do.
        var big = Placement.Choose(view, Claim, 1, 9 * Gi);
        Assert.Empty(big.Pools);
        Assert.Equal("needs 1 pool of cstor-pool on distinct nodes with 9Gi free, 0 are available (pool-a has 0 unpromised; pool-b has 5Gi unpromised; pool-c has 8Gi unpromised)", big.Problem);
        Assert.Equal(["pool-c"], Names(Placement.Choose(view, Claim, 1, 8 * Gi)));
    }

    [Fact]
    public async Task NotReady_nodes_unhealthy_and_deleting_pools_are_skipped_and_the_problem_says_why()
    {
        await _cluster.AddNodeAsync("node-1");
        await _cluster.AddNodeAsync("node-2", ready: false);
        await _cluster.AddNodeAsync("node-3");
        await _cluster.AddNodeAsync("node-4");
        await _cluster.AddNodeAsync("node-5");
        await _cluster.AddPoolAsync("cstor-pool-a", "node-1", 10 * Gi);
        await _cluster.AddPoolAsync("cstor-pool-b", "node-2", 10 * Gi);
        await _cluster.AddPoolAsync("cstor-pool-c", "node-3", 10 * Gi, phase: "Degraded");
        await _cluster.AddPoolAsync("cstor-pool-d", "node-4", 10 * Gi, deleting: true);
        var e = await _cluster.AddPoolAsync("cstor-pool-e", "node-5", 2 * Gi);
        await _cluster.AddVolumeAsync("pvc-old", 3 * Gi / 2, e);

        var view = await _cluster.ViewAsync();
        var one = Placement.Choose(view, Claim, 1, Gi);
        Assert.Equal(["cstor-pool-a"], Names(one));

        var two = Placement.Choose(view, Claim, 2, Gi);
        Assert.Empty(two.Pools);
        Assert.Equal(
            "needs 2 pools of cstor-pool on distinct nodes with 1Gi free, 1 is available "
            + "(cstor-pool-b's node node-2 is NotReady; cstor-pool-c is Degraded; cstor-pool-d is being deleted; cstor-pool-e has 512Mi unpromised)",
            two.Problem);
    }

    [Fact]
    public async Task A_pool_that_has_not_reported_yet_is_Pending_and_not_chosen()
    {
        await _cluster.AddNodesAsync(1);
        await _cluster.AddPoolAsync("cstor-pool-a", "node-1", 0, phase: null!);
        var choice = Placement.Choose(await _cluster.ViewAsync(), Claim, 1, Gi);
        Assert.Equal("needs 1 pool of cstor-pool on distinct nodes with 1Gi free, 0 are available (cstor-pool-a is Pending)", choice.Problem);
    }

    [Fact]
    public async Task Nothing_is_placed_on_a_claim_being_deleted()
    {
        await _cluster.AddNodesAsync(1);
        var claim = await _cluster.AddPoolClaimAsync(1);
        claim.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
        Assert.True(await _cluster.Resources.UpdateAsync(claim));
        await _cluster.AddPoolAsync("cstor-pool-a", "node-1", 10 * Gi);
        var choice = Placement.Choose(await _cluster.ViewAsync(), Claim, 1, Gi);
        Assert.Empty(choice.Pools);
        Assert.Equal("storage pool claim cstor-pool is being deleted", choice.Problem);
    }

    [Fact]
    public async Task Three_hundred_placements_over_three_equal_pools_never_overpromise_and_spread_evenly()
    {
        await _cluster.AddNodesAsync(3);
        for (int i = 1; i <= 3; i++)
        {
            await _cluster.AddPoolAsync($"pool-{i}", $"node-{i}", 150 * Gi);
        }

        var view = await _cluster.ViewAsync();
        int placed = 0;
        var problems = new List<string>();
        for (int n = 0; n < 300; n++)
        {
            var choice = Placement.Choose(view, Claim, 2, Gi);
            if (choice.Problem is { } problem)
            {
                problems.Add(problem);
            }
            else
            {
                Assert.Equal(2, choice.Pools.Select(p => p.Spec.Node).Distinct().Count());
                view.Volumes.Add(Placed($"pvc-{n}", Gi, choice));
                placed++;
            }

            var perPool = view.Pools.Select(p => view.Volumes.Count(v => v.Spec.Replicas.Any(r => r.Pool == p.Metadata.Name))).ToList();
            Assert.True(perPool.Max() - perPool.Min() <= 1, $"after {n + 1} placements the pools hold {string.Join(", ", perPool)} volumes");
            Assert.All(view.Pools, p => Assert.True(Placement.Promised(view, p.Metadata.Name) <= p.Status.CapacityBytes, $"{p.Metadata.Name} over-promised"));
        }

        // 3 × 150Gi hold 450 replicas of 1Gi: 225 volumes of 2, then every pool is full.
        Assert.Equal(225, placed);
        Assert.Equal(75, problems.Count);
        Assert.All(problems, p => Assert.Equal(
            "needs 2 pools of cstor-pool on distinct nodes with 1Gi free, 0 are available (pool-1 has 0 unpromised; pool-2 has 0 unpromised; pool-3 has 0 unpromised)", p));
        Assert.All(view.Pools, p => Assert.Equal(150 * Gi, Placement.Promised(view, p.Metadata.Name)));
    }

    [Fact]
    public async Task Placements_of_mixed_sizes_over_unequal_pools_never_promise_more_than_a_pool_holds()
    {
        await _cluster.AddNodesAsync(4);
        long[] capacities = [10 * Gi, 7 * Gi, 3 * Gi, 25 * Gi / 2];
        for (int i = 0; i < capacities.Length; i++)
        {
            await _cluster.AddPoolAsync($"pool-{i + 1}", $"node-{i + 1}", capacities[i]);
        }

        var view = await _cluster.ViewAsync();
        var random = new Random(20261126);
        int placed = 0;
        for (int n = 0; n < 300; n++)
        {
            long size = (1 + random.Next(16)) * (Gi / 8); // 128Mi to 2Gi
            int replicas = 1 + random.Next(3);
            var choice = Placement.Choose(view, Claim, replicas, size);
            if (choice.Problem is null)
            {
                Assert.Equal(replicas, choice.Pools.Select(p => p.Spec.Node).Distinct().Count());
                view.Volumes.Add(Placed($"pvc-{n}", size, choice));
                placed++;
            }
            else
            {
                Assert.StartsWith($"needs {replicas} pool", choice.Problem, StringComparison.Ordinal);
            }

            Assert.All(view.Pools, p => Assert.True(Placement.Promised(view, p.Metadata.Name) <= p.Status.CapacityBytes, $"{p.Metadata.Name} over-promised"));
        }

        Assert.InRange(placed, 10, 299);
    }

    /// <summary>The volume ProvisionReconciler would record for <paramref name="choice"/>: the promise is the volume itself.</summary>
    private static Volume Placed(string name, long size, Placement.Choice choice) => new()
    {
        Metadata = { Name = name },
        Spec =
        {
            SizeBytes = size,
            Replicas = choice.Pools.Select(p => new ReplicaPlacement { Name = $"{name}-{p.Metadata.Name}", Pool = p.Metadata.Name, Node = p.Spec.Node }).ToList(),
        },
    };

    [Fact]
    public async Task Pools_still_being_made_are_a_wait_not_a_fault()
    {
        await _cluster.AddNodesAsync(3);
        await _cluster.AddPoolAsync("pool-a", "node-1", 0, phase: "Pending");
        await _cluster.AddPoolAsync("pool-b", "node-2", 0, phase: "Pending");
        var waiting = Placement.Choose(await _cluster.ViewAsync(), Claim, 2, Gi);
        Assert.Empty(waiting.Pools);
        Assert.True(waiting.BeingMade, waiting.Problem);

        await _cluster.AddPoolAsync("pool-c", "node-3", 10 * Gi, phase: "Failed");
        var failed = Placement.Choose(await _cluster.ViewAsync(), Claim, 2, Gi);
        Assert.False(failed.BeingMade, failed.Problem);
        Assert.Contains("pool-c is Failed", failed.Problem, StringComparison.Ordinal);
    }
}
