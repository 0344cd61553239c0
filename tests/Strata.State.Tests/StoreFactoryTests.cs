using Strata.State.Sqlite;
using Xunit;

namespace Strata.State.Tests;

public sealed class StoreFactoryTests
{
    [Theory]
    [InlineData("sqlite:/var/lib/strata/state.db", "/var/lib/strata/state.db")]
    [InlineData("sqlite:state.db", "state.db")]
    [InlineData("sqlite::memory:", ":memory:")]
    public void Sqlite_specs_name_a_path(string spec, string path)
    {
        Assert.Equal(new StoreFactory.StoreSpec(path, null), StoreFactory.Parse(spec));
    }

    [Theory]
    [InlineData("etcd://127.0.0.1:2379", "http://127.0.0.1:2379")]
    [InlineData("etcd://a:2379,b:22379, 10.0.0.3:2379", "http://a:2379,http://b:22379,http://10.0.0.3:2379")]
    [InlineData("etcd://[::1]:2379", "http://[::1]:2379")]
    [InlineData("etcd://etcd.local:80", "http://etcd.local:80")]
    public void Etcd_specs_name_endpoints(string spec, string endpoints)
    {
        Assert.Equal(new StoreFactory.StoreSpec(null, endpoints), StoreFactory.Parse(spec));
    }

    [Theory]
    [InlineData("x")]
    [InlineData("")]
    [InlineData("sqlite:")]
    [InlineData("sqlite:  ")]
    [InlineData("SQLITE:/x")]
    [InlineData("etcd://")]
    [InlineData("etcd://host")]
    [InlineData("etcd://host:port")]
    [InlineData("etcd://host:0")]
    [InlineData("etcd://host:70000")]
    [InlineData("etcd://host:2379/path")]
    [InlineData("etcd://host:2379,")]
    [InlineData("etcd://user@host:2379")]
    [InlineData("http://127.0.0.1:2379")]
    [InlineData("/var/lib/strata/state.db")]
    public async Task Anything_else_is_refused_with_a_clear_message(string spec)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => StoreFactory.OpenAsync(spec));
        Assert.Equal($"--store: '{spec}' is not sqlite:PATH or etcd://HOST:PORT", e.Message);
    }

    [Fact]
    public async Task The_factory_opens_a_sqlite_file()
    {
        string dir = Directory.CreateTempSubdirectory("strata-state-").FullName;
        try
        {
            string path = Path.Combine(dir, "sub", "state.db");
            await using (var store = await StoreFactory.OpenAsync("sqlite:" + path))
            {
                Assert.IsType<SqliteStore>(store);
                Assert.Equal("sqlite:" + path, store.Description);
                Assert.NotNull(await store.PutAsync("/k", "v"u8.ToArray(), Revision.Absent));
            }
            Assert.True(File.Exists(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
