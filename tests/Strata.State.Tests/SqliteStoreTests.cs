using System.Diagnostics;
using Strata.State.Sqlite;
using Xunit;
using Xunit.Abstractions;

namespace Strata.State.Tests;

/// <summary>The contract against a SQLite file under /tmp (deleted afterwards), and what only a file store promises.</summary>
public sealed class SqliteStoreTests(ITestOutputHelper output) : StoreContract
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-state-").FullName;

    private string DbPath => Path.Combine(_dir, "state.db");

    private static readonly SqliteStoreOptions Fast = new() { LeaseCheckInterval = TimeSpan.FromMilliseconds(100) };

    protected override TimeSpan LeaseTtl => TimeSpan.FromSeconds(2);

    protected override Task<IStore> OpenStoreAsync() => OpenAsync();

    private async Task<IStore> OpenAsync(SqliteStoreOptions? options = null) => await SqliteStore.OpenAsync(DbPath, options ?? Fast);

    protected override Task CompactAsync(IStore store, long revision) => ((SqliteStore)store).CompactAsync(revision);

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Records_and_revisions_survive_reopening()
    {
        long r1 = await Put(P + "a", "1");
        long r2 = await Put(P + "b", "2");
        Assert.True(await Store.DeleteAsync(P + "a", r1));
        var before = await Store.ListAsync(P);
        Assert.Equal(Path.GetFullPath(DbPath), Store.Description["sqlite:".Length..]);
        await Store.DisposeAsync();

        await using var reopened = await OpenAsync();
        var after = await reopened.ListAsync(P);
        Assert.Equal(before.Revision, after.Revision);
        var b = Assert.Single(after.Records);
        Assert.Equal((P + "b", "2", r2, r2), (b.Key, S(b.Value), b.Revision, b.CreateRevision));
        long r4 = (await reopened.PutAsync(P + "c", B("3"), Revision.Absent))!.Value;
        Assert.True(r4 > before.Revision, $"revision {r4} after reopening a store at {before.Revision}");

        // The history survives too: a watch from before the reopening replays it.
        await using var watch = new WatchProbe(reopened, P, r1);
        var events = await watch.TakeAsync(4);
        Assert.Equal([r1, r2, before.Revision, r4], events.Select(e => e.Record.Revision));
        Assert.Equal(StoreEventType.Delete, events[2].Type);
    }

    [Fact]
    public async Task A_lease_keeps_its_remaining_time_across_reopening()
    {
        var clock = Stopwatch.StartNew();
        long shortLease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(2));
        long longLease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(60));
        long r1 = await Put(P + "short", "s", Revision.Absent, shortLease);
        long r2 = await Put(P + "long", "l", Revision.Absent, longLease);
        Assert.NotNull(await Store.GetAsync(P + "short"));
        await Store.DisposeAsync();
        // Closed while the short lease runs out (time passing is what this test is about).
        while (clock.Elapsed < TimeSpan.FromSeconds(2.2))
        {
            await Task.Delay(50);
        }

        await using var reopened = await OpenAsync();
        await using var watch = new WatchProbe(reopened, P, r2 + 1);
        var delete = await watch.NextAsync(TimeSpan.FromSeconds(3));
        Assert.Equal((StoreEventType.Delete, P + "short"), (delete.Type, delete.Record.Key));
        Assert.True(delete.Record.Revision > r2);
        Assert.Null(await reopened.GetAsync(P + "short"));
        Assert.False(await reopened.KeepAliveAsync(shortLease));
        Assert.True(await reopened.KeepAliveAsync(longLease));
        Assert.Equal(longLease, (await reopened.GetAsync(P + "long"))!.Lease);
        Assert.True(r1 < r2);
    }

    [Fact]
    public async Task A_lease_granted_before_reopening_still_expires_after_it()
    {
        long lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(1));
        long r = await Put(P + "k", "v", Revision.Absent, lease);
        await Store.DisposeAsync();

        await using var reopened = await OpenAsync();
        await using var watch = new WatchProbe(reopened, P, r + 1);
        var delete = await watch.NextAsync(TimeSpan.FromSeconds(4));
        Assert.Equal((StoreEventType.Delete, P + "k"), (delete.Type, delete.Record.Key));
    }

    [Fact]
    public async Task History_keeps_the_configured_number_of_revisions()
    {
        await Store.DisposeAsync();
        await using var store = await OpenAsync(new SqliteStoreOptions { HistoryRevisions = 5 });
        var revisions = new List<long>();
        for (int i = 0; i < 12; i++)
        {
            revisions.Add((await store.PutAsync(P + "k", B($"v{i}"), Revision.Any))!.Value);
        }
        var e = await Assert.ThrowsAsync<StoreCompactedException>(async () =>
        {
            await foreach (var _ in store.WatchAsync(P, revisions[6]))
            {
            }
        });
        Assert.Equal((revisions[6], revisions[7]), (e.Requested, e.Oldest));

        await using var watch = new WatchProbe(store, P, revisions[7]);
        Assert.Equal(revisions[7..], (await watch.TakeAsync(5)).Select(x => x.Record.Revision));
    }

    [Fact]
    public async Task A_watcher_that_falls_behind_the_kept_history_gets_StoreCompactedException()
    {
        await Store.DisposeAsync();
        await using var store = await OpenAsync(new SqliteStoreOptions { HistoryRevisions = 5 });
        long r = (await store.PutAsync(P + "k", B("first"), Revision.Any))!.Value;
        await using var watch = store.WatchAsync(P, r).GetAsyncEnumerator();
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(r, watch.Current.Record.Revision);
        for (int i = 0; i < 10; i++)
        {
            await store.PutAsync(P + "k", B($"v{i}"), Revision.Any);
        }
        // The watcher did not read while ten revisions went by; the next one it needs is gone.
        var e = await Assert.ThrowsAsync<StoreCompactedException>(async () => await watch.MoveNextAsync());
        Assert.Equal(r + 1, e.Requested);
    }

    [Fact]
    public async Task A_second_store_on_the_same_file_is_refused()
    {
        var e = await Assert.ThrowsAsync<StoreException>(() => OpenAsync());
        Assert.Contains(DbPath, e.Message, StringComparison.Ordinal);
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Puts_are_durable_one_by_one_and_fast_enough()
    {
        const int Count = 1000;
        var clock = Stopwatch.StartNew();
        // On the thread pool: SQLite's calls complete synchronously (fsync included), and this loop must not hold
        // one of xunit's few test threads for its whole run while other classes' lease tests wait for theirs.
        await Task.Run(async () =>
        {
            for (int i = 0; i < Count; i++)
            {
                await Store.PutAsync($"{P}k{i % 50}", B($"value {i}"), Revision.Any);
            }
        });
        double perSecond = Count / clock.Elapsed.TotalSeconds;
        output.WriteLine($"{Count} sequential puts with synchronous=FULL: {clock.Elapsed.TotalMilliseconds:0} ms, {perSecond:0}/s");
        Assert.Equal(50, (await Store.ListAsync(P)).Records.Count);
    }
}

/// <summary>The contract against <c>:memory:</c>, where reads share the writer's connection.</summary>
public sealed class InMemorySqliteStoreTests : StoreContract
{
    protected override TimeSpan LeaseTtl => TimeSpan.FromSeconds(2);

    protected override async Task<IStore> OpenStoreAsync() =>
        await SqliteStore.OpenAsync(":memory:", new SqliteStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(100) });

    protected override Task CompactAsync(IStore store, long revision) => ((SqliteStore)store).CompactAsync(revision);
}
