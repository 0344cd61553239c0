namespace Strata.Replication.Tests;

public sealed class FileEpochStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task An_epoch_is_zero_until_set_and_survives_a_new_store()
    {
        var store = new FileEpochStore(_dir.File("e"));
        Assert.Equal(0, await store.GetAsync("pvc-1"));
        await store.SetAsync("pvc-1", 3);
        await store.SetAsync("pvc-2", 8);
        await store.SetAsync("pvc-1", 4);
        var again = new FileEpochStore(_dir.File("e"));
        Assert.Equal(4, await again.GetAsync("pvc-1"));
        Assert.Equal(8, await again.GetAsync("pvc-2"));
        Assert.Equal("4\n", File.ReadAllText(store.PathOf("pvc-1")));
        Assert.Equal(2, Directory.GetFiles(store.Directory).Length); // no temporary files left behind
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("ünï code")]
    public async Task Volume_ids_that_are_not_plain_file_names_stay_inside_the_directory(string volumeId)
    {
        var store = new FileEpochStore(_dir.File("e"));
        await store.SetAsync(volumeId, 7);
        Assert.Equal(store.Directory, Path.GetDirectoryName(store.PathOf(volumeId)));
        Assert.StartsWith("~", Path.GetFileName(store.PathOf(volumeId)));
        Assert.Equal(7, await store.GetAsync(volumeId));
        Assert.Equal(0, await store.GetAsync(volumeId + "x"));
    }

    [Fact]
    public async Task A_file_that_is_not_an_epoch_is_an_error_not_zero()
    {
        var store = new FileEpochStore(_dir.File("e"));
        await store.SetAsync("pvc-1", 5);
        File.WriteAllText(store.PathOf("pvc-1"), "garbage");
        await Assert.ThrowsAsync<InvalidDataException>(async () => await store.GetAsync("pvc-1"));
        File.WriteAllText(store.PathOf("pvc-1"), "");
        await Assert.ThrowsAsync<InvalidDataException>(async () => await store.GetAsync("pvc-1"));
    }

    [Fact]
    public async Task A_server_refuses_every_Hello_for_a_volume_whose_epoch_file_is_unreadable()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-bad");
        var store = new FileEpochStore(host.EpochDirectory);
        File.WriteAllText(store.PathOf("pvc-bad"), "5"); // torn by hand: no newline
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => host.ConnectAsync("pvc-bad", 100));
        Assert.Equal(BlockDeviceErrorKind.Medium, e.Kind);
    }
}
