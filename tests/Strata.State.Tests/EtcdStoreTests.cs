using System.Diagnostics;
using Strata.State.Etcd;
using Xunit;

namespace Strata.State.Tests;

/// <summary>The contract against a real etcd, and what only a networked store has to handle.</summary>
public sealed class EtcdStoreTests(EtcdFixture etcd) : StoreContract, IClassFixture<EtcdFixture>
{
    // etcd grants at least 1.5 × its election timeout, rounded up to whole seconds: 2 s with default settings.
    protected override TimeSpan LeaseTtl => TimeSpan.FromSeconds(2);

    protected override async Task<IStore> OpenStoreAsync() => await EtcdStore.ConnectAsync(etcd.Endpoint);

    protected override Task CompactAsync(IStore store, long revision) => ((EtcdStore)store).CompactAsync(revision);

    [Fact]
    public void Describes_itself_by_its_endpoint()
    {
        Assert.Equal($"etcd://127.0.0.1:{etcd.ClientPort}", Store.Description);
    }

    [Fact]
    public async Task The_factory_opens_an_etcd_spec()
    {
        await using var store = await StoreFactory.OpenAsync($"etcd://127.0.0.1:{etcd.ClientPort}");
        Assert.IsType<EtcdStore>(store);
        long r = await Put(P + "k", "v");
        Assert.Equal(r, (await store.GetAsync(P + "k"))!.Revision);
    }

    [Fact]
    public async Task A_list_longer_than_a_page_is_read_in_pages_at_one_revision()
    {
        await using var paged = await EtcdStore.ConnectAsync(etcd.Endpoint, new EtcdStoreOptions { ListPageSize = 3 });
        var keys = Enumerable.Range(0, 10).Select(i => $"{P}k{i:D2}").ToList();
        long last = 0;
        foreach (string k in keys)
        {
            last = await Put(k, k);
        }
        await Put(P[..^1] + "0-sibling", "outside");
        var list = await paged.ListAsync(P);
        Assert.Equal(keys, list.Records.Select(r => r.Key));
        Assert.True(list.Revision >= last);
        Assert.Equal(keys.Take(3), (await paged.ListAsync(P + "k0")).Records.Take(3).Select(r => r.Key));
    }

    [Fact]
    public async Task Connecting_to_nothing_fails_naming_the_endpoint()
    {
        int port = ClosedPort();
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<StoreException>(() =>
            EtcdStore.ConnectAsync($"http://127.0.0.1:{port}", new EtcdStoreOptions { ConnectTimeout = TimeSpan.FromSeconds(1) }));
        Assert.Contains($"etcd://127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_watch_survives_an_etcd_restart_without_gaps_or_duplicates()
    {
        var revisions = new List<long>();
        for (int i = 0; i < 3; i++)
        {
            revisions.Add(await Put(P + "k", $"before-{i}"));
        }
        await using var watch = Watch(P, revisions[0]);
        Assert.Equal(revisions, (await watch.TakeAsync(3)).Select(e => e.Record.Revision));

        await etcd.KillAsync();
        // While etcd is down a write fails, naming the endpoint (and a read too, once its retries give up).
        var down = await Assert.ThrowsAsync<StoreException>(() => Store.PutAsync(P + "down", B("x"), Revision.Any));
        Assert.Contains($"etcd://127.0.0.1:{etcd.ClientPort}", down.Message, StringComparison.Ordinal);
        await etcd.StartAsync();

        // The store's channel reconnects on its own; the watch resumes from the revision after the last it delivered.
        var after = new List<long>();
        for (int i = 0; i < 3; i++)
        {
            after.Add(await RetryAsync(() => Put(P + "k", $"after-{i}")));
        }
        var events = await watch.TakeAsync(3);
        Assert.Equal(after, events.Select(e => e.Record.Revision));
        Assert.Equal(["after-0", "after-1", "after-2"], events.Select(e => S(e.Record.Value)));
    }

    private static async Task<T> RetryAsync<T>(Func<Task<T>> write)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await write();
            }
            catch (StoreException) when (clock.Elapsed < Soon)
            {
                await Task.Delay(100);
            }
        }
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
