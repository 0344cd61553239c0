using static Strata.Replication.Tests.TestBlocks;

namespace Strata.Replication.Tests;

/// <summary>Epochs: a newer target fences every older one, at once and across restarts.</summary>
public sealed class FencingTests : IAsyncLifetime
{
    private readonly ReplicaHost _host = ReplicaHost.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_newer_epoch_fences_the_old_target_and_its_data_stays_intact()
    {
        var file = _host.AddVolume("pvc-a");
        await using var a = await _host.ConnectAsync("pvc-a", epoch: 1);
        await a.WriteAsync(0, Filled(0xAA), WriteFlags.None);
        await a.WriteAsync(1, Filled(0xAA), WriteFlags.None);

        await using var b = await _host.ConnectAsync("pvc-a", epoch: 2);
        await b.WriteAsync(1, Filled(0xBB), WriteFlags.Fua);

        // The old target's next write is refused, and so is everything after it, without asking again.
        var fenced = await Assert.ThrowsAsync<BlockDeviceException>(async () => await a.WriteAsync(1, Filled(0xAC), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Fenced, fenced.Kind);
        Assert.Contains("epoch 1 is older than 2", fenced.Message);
        Assert.Contains("pvc-a", fenced.Message);
        foreach (var call in new Func<ValueTask>[] { () => a.ReadAsync(0, new byte[Block]), () => a.FlushAsync(), () => a.WriteAsync(2, Filled(1), WriteFlags.None), () => a.UnmapAsync(0, 1) })
        {
            var again = await Assert.ThrowsAsync<BlockDeviceException>(async () => await call());
            Assert.Equal(BlockDeviceErrorKind.Fenced, again.Kind);
        }

        Assert.Equal(Filled(0xAA), await ReadAsync(b, 0));
        Assert.Equal(Filled(0xBB), await ReadAsync(b, 1));
        var onDisk = new byte[Block];
        await file.ReadAsync(1, onDisk);
        Assert.Equal(Filled(0xBB), onDisk);

        // A new target with the old epoch is refused at Hello; the one with the current epoch may reconnect.
        var refused = await Assert.ThrowsAsync<BlockDeviceException>(() => _host.ConnectAsync("pvc-a", epoch: 1));
        Assert.Equal(BlockDeviceErrorKind.Fenced, refused.Kind);
        Assert.Contains("epoch 1 is older than 2", refused.Message);
        await using var b2 = await _host.ConnectAsync("pvc-a", epoch: 2);
        Assert.Equal(Filled(0xBB), await ReadAsync(b2, 1));
        Assert.Equal(Filled(0xBB), await ReadAsync(b, 1));
    }

    [Fact]
    public async Task Epochs_survive_a_server_restart()
    {
        _host.AddVolume("pvc-r");
        await using (var t = await _host.ConnectAsync("pvc-r", epoch: 5))
        {
            await t.WriteAsync(3, Filled(0x55), WriteFlags.Fua);
        }

        await _host.RestartAsync();
        Assert.Equal(5, await new FileEpochStore(_host.EpochDirectory).GetAsync("pvc-r"));

        var refused = await Assert.ThrowsAsync<BlockDeviceException>(() => _host.ConnectAsync("pvc-r", epoch: 4));
        Assert.Equal(BlockDeviceErrorKind.Fenced, refused.Kind);
        Assert.Contains("epoch 4 is older than 5", refused.Message);

        await using var same = await _host.ConnectAsync("pvc-r", epoch: 5);
        Assert.Equal(Filled(0x55), await ReadAsync(same, 3));
        await using var newer = await _host.ConnectAsync("pvc-r", epoch: 6);
        await _host.RestartAsync();
        await Assert.ThrowsAsync<BlockDeviceException>(() => _host.ConnectAsync("pvc-r", epoch: 5));
        await using var after = await _host.ConnectAsync("pvc-r", epoch: 6);
        Assert.Equal(Filled(0x55), await ReadAsync(after, 3));
    }

    [Fact]
    public async Task Epochs_are_per_volume()
    {
        _host.AddVolume("pvc-x");
        _host.AddVolume("pvc-y");
        await using var x = await _host.ConnectAsync("pvc-x", epoch: 9);
        await using var y = await _host.ConnectAsync("pvc-y", epoch: 1);
        await y.WriteAsync(0, Filled(1), WriteFlags.None);
        await x.WriteAsync(0, Filled(2), WriteFlags.None);
    }

    /// <summary>
    /// A paused old target with writes already at the disk: the newer target's Hello is answered only once they
    /// are done, so none of them can land after the new target starts. Either may be a client over TCP or the
    /// in-process session of a target on the replica's node (<see cref="LocalReplica"/>): one fence admits both.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task A_newer_Hello_waits_for_the_older_targets_writes_in_flight(bool oldLocal, bool newLocal)
    {
        var gated = new GatedDevice(_host.AddVolume("pvc-g"));
        _host.Serve("pvc-g", gated);
        await using var old = await _host.OpenAsync("pvc-g", epoch: 1, oldLocal);
        gated.Close();
        var held = Enumerable.Range(0, 4).Select(i => old.WriteAsync(i, Filled(0x01), WriteFlags.None).AsTask()).ToArray();
        await Frames.WaitUntilAsync(() => gated.Waiting == 4, "the writes to reach the disk");

        var connecting = _host.OpenAsync("pvc-g", epoch: 2, newLocal);
        await Task.Delay(300);
        Assert.False(connecting.IsCompleted, "HelloOk came while writes of the older epoch were still in flight");

        gated.Open();
        await using var newer = await connecting;
        await Task.WhenAll(held); // begun before the new epoch: they complete
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.WriteAsync(5, Filled(0x01), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Fenced, e.Kind);
        Assert.Equal(Filled(0x01), await ReadAsync(newer, 3));
    }

    [Fact]
    public async Task A_volume_the_node_does_not_hold_is_Unavailable()
    {
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => _host.ConnectAsync("pvc-none", epoch: 1));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("pvc-none", e.Message);
    }
}
