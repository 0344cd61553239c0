using System.Diagnostics;
using System.Text;
using Xunit;

namespace Strata.State.Tests;

/// <summary>
/// Every semantic of <see cref="IStore"/> as a test. Derive once per implementation and say how to open a store,
/// compact its history, and which lease TTL to use. Each test works under its own key prefix, so implementations
/// may share one server between tests; revisions are store-wide, so tests compare revisions they saw, never
/// absolute numbers.
/// </summary>
public abstract class StoreContract : IAsyncLifetime
{
    /// <summary>How long a test waits for something that should happen at once (an event, a write).</summary>
    protected static readonly TimeSpan Soon = TimeSpan.FromSeconds(15);

    private readonly List<IAsyncDisposable> _open = [];

    /// <summary>This test's keys: a prefix no other test uses.</summary>
    protected string P { get; } = $"/t/{Guid.NewGuid():N}/";

    protected IStore Store { get; private set; } = null!;

    /// <summary>A new store (or a new client of a shared one).</summary>
    protected abstract Task<IStore> OpenStoreAsync();

    /// <summary>Drops the history before <paramref name="revision"/> (etcd's compact).</summary>
    protected abstract Task CompactAsync(IStore store, long revision);

    /// <summary>
    /// A short lease TTL the store honours exactly (etcd's minimum is 2 s with default settings). Keep-alives go out
    /// at a quarter of it, so it must absorb scheduling delays of the parallel test run.
    /// </summary>
    protected abstract TimeSpan LeaseTtl { get; }

    public virtual async Task InitializeAsync() => Store = await OpenStoreAsync();

    public virtual async Task DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(_open))
        {
            await d.DisposeAsync();
        }
        await Store.DisposeAsync();
    }

    protected WatchProbe Watch(string prefix, long fromRevision) => Track(new WatchProbe(Store, prefix, fromRevision));

    protected T Track<T>(T disposable) where T : IAsyncDisposable
    {
        _open.Add(disposable);
        return disposable;
    }

    protected static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    protected static string S(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    protected async Task<long> Put(string key, string value, long expected = Revision.Any, long lease = 0) =>
        await Store.PutAsync(key, B(value), expected, lease) ?? throw new InvalidOperationException($"put {key} failed its condition");

    protected static void AssertEvent(StoreEvent e, StoreEventType type, string key, string value, long revision)
    {
        Assert.Equal((type, key, value, revision), (e.Type, e.Record.Key, S(e.Record.Value), e.Record.Revision));
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling, failing after <paramref name="within"/>.</summary>
    protected static async Task Eventually(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > within)
            {
                Assert.Fail($"{what}: not within {within.TotalSeconds} s");
            }
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Get_of_a_missing_key_is_null()
    {
        Assert.Null(await Store.GetAsync(P + "missing"));
    }

    [Fact]
    public async Task Create_only_put_succeeds_once()
    {
        long? first = await Store.PutAsync(P + "k", B("one"), Revision.Absent);
        Assert.NotNull(first);
        Assert.Null(await Store.PutAsync(P + "k", B("two"), Revision.Absent));
        var record = await Store.GetAsync(P + "k");
        Assert.NotNull(record);
        Assert.Equal(("one", first.Value, first.Value, 0L), (S(record.Value), record.Revision, record.CreateRevision, record.Lease));
    }

    [Fact]
    public async Task Compare_and_swap_writes_only_at_the_expected_revision()
    {
        long r1 = await Put(P + "k", "one", Revision.Absent);
        long? r2 = await Store.PutAsync(P + "k", B("two"), r1);
        Assert.NotNull(r2);
        Assert.True(r2 > r1);
        Assert.Null(await Store.PutAsync(P + "k", B("three"), r1));
        Assert.Null(await Store.PutAsync(P + "k", B("three"), r2.Value + 1000));
        Assert.Null(await Store.PutAsync(P + "other", B("x"), r2.Value)); // a revision never matches a missing key
        var record = await Store.GetAsync(P + "k");
        Assert.NotNull(record);
        Assert.Equal(("two", r2.Value, r1), (S(record.Value), record.Revision, record.CreateRevision));
        Assert.Null(await Store.GetAsync(P + "other"));
    }

    [Fact]
    public async Task Unconditional_put_creates_and_overwrites()
    {
        long r1 = await Put(P + "k", "one");
        long r2 = await Put(P + "k", "two");
        Assert.True(r2 > r1);
        var record = await Store.GetAsync(P + "k");
        Assert.NotNull(record);
        Assert.Equal(("two", r2, r1), (S(record.Value), record.Revision, record.CreateRevision));
    }

    [Fact]
    public async Task Values_round_trip_byte_for_byte()
    {
        byte[] binary = [0, 1, 2, 0xFF, 0xFE, 0, 10, 13];
        await Store.PutAsync(P + "binary", binary, Revision.Any);
        await Store.PutAsync(P + "empty", ReadOnlyMemory<byte>.Empty, Revision.Any);
        await Put(P + "ünïcödé/ключ", "value");
        Assert.Equal(binary, (await Store.GetAsync(P + "binary"))!.Value.ToArray());
        Assert.Equal(0, (await Store.GetAsync(P + "empty"))!.Value.Length);
        Assert.Equal("value", S((await Store.GetAsync(P + "ünïcödé/ключ"))!.Value));
    }

    [Fact]
    public async Task Delete_with_and_without_a_condition()
    {
        Assert.False(await Store.DeleteAsync(P + "k", Revision.Any));
        long r1 = await Put(P + "k", "one");
        Assert.False(await Store.DeleteAsync(P + "k", r1 + 1000));
        Assert.NotNull(await Store.GetAsync(P + "k"));
        Assert.True(await Store.DeleteAsync(P + "k", r1));
        Assert.Null(await Store.GetAsync(P + "k"));
        Assert.False(await Store.DeleteAsync(P + "k", r1));

        long r2 = await Put(P + "k", "two");
        Assert.True(await Store.DeleteAsync(P + "k", Revision.Any));
        Assert.Null(await Store.GetAsync(P + "k"));
        long r3 = await Put(P + "k", "three", Revision.Absent);
        Assert.True(r3 > r2);
        Assert.Equal(r3, (await Store.GetAsync(P + "k"))!.CreateRevision); // a new life
    }

    [Fact]
    public async Task Invalid_arguments_are_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.PutAsync("", B("x"), Revision.Any));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.GetAsync(""));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.PutAsync(P + "k", B("x"), -2));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.DeleteAsync(P + "k", Revision.Absent));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.GrantLeaseAsync(TimeSpan.Zero));
    }

    [Fact]
    public async Task Revisions_strictly_increase_across_keys()
    {
        long last = 0;
        for (int i = 0; i < 20; i++)
        {
            long r = await Put($"{P}k{i % 3}", $"v{i}");
            Assert.True(r > last, $"revision {r} after {last}");
            last = r;
        }
        Assert.True(await Store.DeleteAsync(P + "k0", Revision.Any));
        var list = await Store.ListAsync(P);
        Assert.True(list.Revision > last);
    }

    [Fact]
    public async Task List_is_a_plain_string_prefix_in_key_order()
    {
        string[] keys = ["a/bc", "a/b/d", "a/b", "a/a", "a/b/c", "a/c", "b/b/c"];
        long last = 0;
        foreach (string k in keys)
        {
            last = await Put(P + k, "v-" + k);
        }

        var dir = await Store.ListAsync(P + "a/b/");
        Assert.Equal(["a/b/c", "a/b/d"], dir.Records.Select(r => r.Key[P.Length..]));
        Assert.True(dir.Revision >= last);

        // Without the trailing separator the prefix matches the sibling "a/bc" too: it is a string prefix.
        var plain = await Store.ListAsync(P + "a/b");
        Assert.Equal(["a/b", "a/b/c", "a/b/d", "a/bc"], plain.Records.Select(r => r.Key[P.Length..]));
        Assert.All(plain.Records, r => Assert.Equal("v-" + r.Key[P.Length..], S(r.Value)));

        var all = await Store.ListAsync(P);
        Assert.Equal(keys.Order(StringComparer.Ordinal), all.Records.Select(r => r.Key[P.Length..]));
        Assert.Empty((await Store.ListAsync(P + "zzz")).Records);
    }

    [Fact]
    public async Task List_revision_is_the_store_revision()
    {
        long r = await Put(P + "k", "v");
        var list = await Store.ListAsync(P + "k");
        Assert.True(list.Revision >= r);
        Assert.Equal(r, Assert.Single(list.Records).Revision);
        // Listing an empty prefix still tells the revision to watch from.
        var empty = await Store.ListAsync(P + "nothing/");
        Assert.True(empty.Revision >= r);
    }

    [Fact]
    public async Task Watch_from_a_past_revision_replays_then_follows_live_changes()
    {
        long r1 = await Put(P + "w/a", "a1");
        long r2 = await Put(P + "w/b", "b1");
        Assert.True(await Store.DeleteAsync(P + "w/a", Revision.Any));
        await Put(P + "wx", "sibling outside the prefix");
        long r4 = await Put(P + "w/b", "b2", r2);

        await using var watch = Watch(P + "w/", r2);
        var replay = await watch.TakeAsync(3);
        AssertEvent(replay[0], StoreEventType.Put, P + "w/b", "b1", r2);
        Assert.Equal(StoreEventType.Delete, replay[1].Type);
        Assert.Equal(P + "w/a", replay[1].Record.Key);
        Assert.True(replay[1].Record.Revision > r2);
        Assert.Equal(0, replay[1].Record.Value.Length);
        AssertEvent(replay[2], StoreEventType.Put, P + "w/b", "b2", r4);
        Assert.Equal(r2, replay[2].Record.CreateRevision);

        long r5 = await Put(P + "w/c", "c1");
        await Put(P + "wy", "another sibling");
        Assert.True(await Store.DeleteAsync(P + "w/b", r4));
        long r7 = await Put(P + "w/c", "c2");
        var live = await watch.TakeAsync(3);
        AssertEvent(live[0], StoreEventType.Put, P + "w/c", "c1", r5);
        Assert.Equal((StoreEventType.Delete, P + "w/b"), (live[1].Type, live[1].Record.Key));
        Assert.True(live[1].Record.Revision > r5 && live[1].Record.Revision < r7);
        AssertEvent(live[2], StoreEventType.Put, P + "w/c", "c2", r7);
        Assert.True(r1 < r2);
    }

    [Fact]
    public async Task Watch_of_one_key_sees_only_it()
    {
        long r = await Put(P + "k", "1");
        await using var watch = Watch(P + "k", r);
        await Put(P + "j", "other");
        long r2 = await Put(P + "k", "2");
        AssertEvent(await watch.NextAsync(), StoreEventType.Put, P + "k", "1", r);
        AssertEvent(await watch.NextAsync(), StoreEventType.Put, P + "k", "2", r2);
    }

    [Fact]
    public async Task Watch_from_list_revision_misses_nothing_while_others_write()
    {
        const int Writers = 4, PerWriter = 125;
        int written = 0;
        var someWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var puts = new List<(string Key, long Revision)>();
            for (int i = 0; i < PerWriter; i++)
            {
                string key = $"{P}w/{w}/{i:D3}";
                puts.Add((key, await Put(key, $"{w}.{i}", Revision.Absent)));
                if (Interlocked.Increment(ref written) == 100)
                {
                    someWritten.TrySetResult();
                }
            }
            return puts;
        })).ToArray();

        await someWritten.Task.WaitAsync(Soon * 2);
        var list = await Store.ListAsync(P + "w/");
        await using var watch = Watch(P + "w/", list.Revision + 1);
        var puts = (await Task.WhenAll(writers).WaitAsync(Soon * 2)).SelectMany(p => p).ToList();

        Assert.Equal(Writers * PerWriter, puts.Select(p => p.Revision).Distinct().Count());
        // The list holds exactly the writes at or before its revision; the watch delivers every later one, once, in order.
        Assert.Equal(
            puts.Where(p => p.Revision <= list.Revision).OrderBy(p => p.Key, StringComparer.Ordinal),
            list.Records.Select(r => (r.Key, r.Revision)));
        var later = puts.Where(p => p.Revision > list.Revision).OrderBy(p => p.Revision).ToList();
        var seen = await watch.TakeAsync(later.Count);
        Assert.Equal(later, seen.Select(e => (e.Record.Key, e.Record.Revision)));
        Assert.All(seen, e => Assert.Equal(StoreEventType.Put, e.Type));
    }

    [Fact]
    public async Task Watch_ends_when_cancelled()
    {
        using var cts = new CancellationTokenSource();
        var enumerator = Store.WatchAsync(P, 0, cts.Token).GetAsyncEnumerator(cts.Token);
        var move = enumerator.MoveNextAsync().AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => move.WaitAsync(Soon));
        await enumerator.DisposeAsync();
    }

    [Fact]
    public async Task Watch_from_zero_starts_with_the_next_change()
    {
        await Put(P + "k", "before");
        await using var watch = Watch(P, 0);
        // A watch from 0 is established asynchronously: write until an event arrives, then check it is a later write.
        long first = await Put(P + "k", "after-0");
        var e = await WaitForAnyEventAsync(watch, async i => await Put(P + "k", $"after-{i}"));
        Assert.True(e.Record.Revision >= first);
        Assert.StartsWith("after-", S(e.Record.Value));
    }

    private static async Task<StoreEvent> WaitForAnyEventAsync(WatchProbe watch, Func<int, Task> poke)
    {
        for (int i = 1; ; i++)
        {
            try
            {
                return await watch.NextAsync(TimeSpan.FromMilliseconds(200));
            }
            catch (TimeoutException) when (i < 50)
            {
                await poke(i);
            }
        }
    }

    [Fact]
    public async Task Watch_from_a_compacted_revision_throws_StoreCompactedException()
    {
        var revisions = new List<long>();
        for (int i = 0; i < 5; i++)
        {
            revisions.Add(await Put(P + "k", $"v{i}"));
        }
        await CompactAsync(Store, revisions[3]);

        var e = await Assert.ThrowsAsync<StoreCompactedException>(async () =>
        {
            await foreach (var _ in Store.WatchAsync(P, revisions[1]))
            {
            }
        });
        Assert.Equal(revisions[1], e.Requested);
        Assert.True(e.Oldest > revisions[1] && e.Oldest <= revisions[3], $"oldest {e.Oldest}");
        Assert.IsAssignableFrom<StoreException>(e);

        // From the compaction revision on, history is there.
        await using var watch = Watch(P, revisions[3]);
        AssertEvent(await watch.NextAsync(), StoreEventType.Put, P + "k", "v3", revisions[3]);
        AssertEvent(await watch.NextAsync(), StoreEventType.Put, P + "k", "v4", revisions[4]);
    }

    [Fact]
    public async Task Keep_alive_holds_a_lease_past_its_ttl()
    {
        long lease = await Store.GrantLeaseAsync(LeaseTtl);
        Assert.NotEqual(0, lease);
        long r = await Put(P + "held", "v", Revision.Absent, lease);
        Assert.Equal(lease, (await Store.GetAsync(P + "held"))!.Lease);

        // Renew at a quarter of the TTL for two TTLs: the record outlives its first deadline well.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < LeaseTtl * 2)
        {
            Assert.True(await Store.KeepAliveAsync(lease));
            await Task.Delay(LeaseTtl / 4);
        }
        Assert.True(await Store.KeepAliveAsync(lease));
        var record = await Store.GetAsync(P + "held");
        Assert.NotNull(record);
        Assert.Equal((r, lease), (record.Revision, record.Lease));
        await Store.RevokeLeaseAsync(lease);
    }

    [Fact]
    public async Task An_expired_lease_deletes_its_records_as_watched_deletes()
    {
        await Put(P + "c", "unleased");
        var clock = Stopwatch.StartNew();
        long lease = await Store.GrantLeaseAsync(LeaseTtl);
        long r1 = await Put(P + "a", "1", Revision.Absent, lease);
        long r2 = await Put(P + "b", "2", Revision.Absent, lease);
        await using var watch = Watch(P, r2 + 1);

        var deletes = await watch.TakeAsync(2, LeaseTtl + TimeSpan.FromSeconds(3));
        var elapsed = clock.Elapsed;
        Assert.All(deletes, d => Assert.Equal(StoreEventType.Delete, d.Type));
        Assert.Equal([P + "a", P + "b"], deletes.Select(d => d.Record.Key).Order(StringComparer.Ordinal));
        Assert.All(deletes, d => Assert.True(d.Record.Revision > r2));
        Assert.True(elapsed >= LeaseTtl - TimeSpan.FromMilliseconds(100), $"the lease ended after {elapsed}, before its TTL {LeaseTtl}");

        Assert.Null(await Store.GetAsync(P + "a"));
        Assert.Null(await Store.GetAsync(P + "b"));
        Assert.NotNull(await Store.GetAsync(P + "c"));
        Assert.False(await Store.KeepAliveAsync(lease));
        await Assert.ThrowsAsync<StoreLeaseNotFoundException>(() => Store.PutAsync(P + "d", B("x"), Revision.Any, lease));
        Assert.True(r1 < r2);
    }

    [Fact]
    public async Task Revoke_deletes_the_records_at_once()
    {
        long lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(60));
        long r1 = await Put(P + "a", "1", Revision.Absent, lease);
        await Put(P + "b", "2", Revision.Absent, lease);
        await using var watch = Watch(P, r1);
        await Store.RevokeLeaseAsync(lease);

        Assert.Null(await Store.GetAsync(P + "a"));
        Assert.Null(await Store.GetAsync(P + "b"));
        Assert.Empty((await Store.ListAsync(P)).Records);
        var events = await watch.TakeAsync(4);
        Assert.Equal([StoreEventType.Put, StoreEventType.Put, StoreEventType.Delete, StoreEventType.Delete], events.Select(e => e.Type));
        Assert.False(await Store.KeepAliveAsync(lease));
        await Store.RevokeLeaseAsync(lease); // an ended lease: nothing to do
    }

    [Fact]
    public async Task Keep_alive_of_an_ended_or_unknown_lease_is_false_and_puts_with_it_fail()
    {
        long lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(60));
        Assert.True(await Store.KeepAliveAsync(lease));
        await Store.RevokeLeaseAsync(lease);
        Assert.False(await Store.KeepAliveAsync(lease));
        Assert.False(await Store.KeepAliveAsync(0x3f3f3f3f3f3f));
        var e = await Assert.ThrowsAsync<StoreLeaseNotFoundException>(() => Store.PutAsync(P + "k", B("x"), Revision.Any, lease));
        Assert.Equal(lease, e.Lease);
        Assert.Null(await Store.GetAsync(P + "k"));
    }

    [Fact]
    public async Task A_put_without_the_lease_detaches_the_record_from_it()
    {
        long lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(60));
        long r1 = await Put(P + "k", "leased", Revision.Absent, lease);
        long r2 = await Put(P + "k", "free", r1);
        Assert.Equal(0, (await Store.GetAsync(P + "k"))!.Lease);
        await Store.RevokeLeaseAsync(lease);
        var record = await Store.GetAsync(P + "k");
        Assert.NotNull(record);
        Assert.Equal(("free", r2), (S(record.Value), record.Revision));
    }

    [Fact]
    public async Task Disposing_the_store_ends_its_watches()
    {
        long r = await Put(P + "k", "v");
        var watch = Track(new WatchProbe(Store, P, r));
        AssertEvent(await watch.NextAsync(), StoreEventType.Put, P + "k", "v", r);
        await Store.DisposeAsync();
        Assert.IsType<ObjectDisposedException>(await watch.EndAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => Store.GetAsync(P + "k"));
    }
}
