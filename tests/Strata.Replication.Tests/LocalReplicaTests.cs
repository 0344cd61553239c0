using static Strata.Replication.Tests.TestBlocks;

namespace Strata.Replication.Tests;

/// <summary>
/// The in-process session of a target on the replica's own node: epochs fence it and it fences others exactly as over
/// TCP (the same fence and epoch store), errors come as a client's would, and ending it or the server drains first.
/// </summary>
public sealed class LocalReplicaTests : IAsyncLifetime
{
    private readonly ReplicaHost _host = ReplicaHost.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_newer_target_over_TCP_fences_the_local_session_and_its_data_stays_intact()
    {
        var file = _host.AddVolume("pvc-l");
        await using var local = await _host.OpenLocalAsync("pvc-l", epoch: 1);
        await local.WriteAsync(0, Filled(0xAA), WriteFlags.None);

        await using var remote = await _host.ConnectAsync("pvc-l", epoch: 2);
        await remote.WriteAsync(1, Filled(0xBB), WriteFlags.Fua);

        // Every call of the old session is refused from now on, with the message a client would get.
        foreach (var call in new Func<ValueTask>[]
        {
            () => local.WriteAsync(1, Filled(0xAC), WriteFlags.None), () => local.ReadAsync(0, new byte[Block]), () => local.FlushAsync(),
            () => local.UnmapAsync(0, 1), async () => await local.GetExtentAsync(0, 1),
        })
        {
            var fenced = await Assert.ThrowsAsync<BlockDeviceException>(async () => await call());
            Assert.Equal(BlockDeviceErrorKind.Fenced, fenced.Kind);
            Assert.Contains("epoch 1 is older than 2", fenced.Message);
            Assert.Contains("pvc-l", fenced.Message);
        }

        Assert.Equal(Filled(0xAA), await ReadAsync(remote, 0));
        var onDisk = new byte[Block];
        await file.ReadAsync(1, onDisk);
        Assert.Equal(Filled(0xBB), onDisk);

        var refused = await Assert.ThrowsAsync<BlockDeviceException>(() => _host.OpenLocalAsync("pvc-l", epoch: 1));
        Assert.Equal(BlockDeviceErrorKind.Fenced, refused.Kind);
        Assert.Contains("epoch 1 is older than 2", refused.Message);
    }

    [Fact]
    public async Task A_newer_local_session_fences_the_target_over_TCP_and_stores_its_epoch()
    {
        _host.AddVolume("pvc-t");
        await using var remote = await _host.ConnectAsync("pvc-t", epoch: 3);
        await remote.WriteAsync(0, Filled(0x01), WriteFlags.None);

        await using var local = await _host.OpenLocalAsync("pvc-t", epoch: 4);
        Assert.Equal(4, await new FileEpochStore(_host.EpochDirectory).GetAsync("pvc-t"));
        var fenced = await Assert.ThrowsAsync<BlockDeviceException>(async () => await remote.WriteAsync(0, Filled(0x02), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Fenced, fenced.Kind);
        Assert.Equal(Filled(0x01), await ReadAsync(local, 0));

        // Durable: a restarted server refuses the older epoch, in process and over TCP.
        await _host.RestartAsync();
        Assert.Equal(BlockDeviceErrorKind.Fenced, (await Assert.ThrowsAsync<BlockDeviceException>(() => _host.ConnectAsync("pvc-t", epoch: 3))).Kind);
        Assert.Equal(BlockDeviceErrorKind.Fenced, (await Assert.ThrowsAsync<BlockDeviceException>(() => _host.OpenLocalAsync("pvc-t", epoch: 3))).Kind);
    }

    [Fact]
    public async Task A_volume_the_node_does_not_hold_is_Unavailable()
    {
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => _host.OpenLocalAsync("pvc-none", epoch: 1));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("pvc-none", e.Message);
    }

    [Fact]
    public async Task Device_errors_come_as_a_client_would_get_them()
    {
        var failing = new FailingDevice(new MemoryDevice(Block, 64));
        _host.Serve("pvc-e", failing);
        await using var local = await _host.OpenLocalAsync("pvc-e", epoch: 1);
        await using var remote = await _host.ConnectAsync("pvc-e", epoch: 1);

        foreach (IBlockDevice device in new IBlockDevice[] { local, remote })
        {
            failing.Next = new BlockDeviceException(BlockDeviceErrorKind.NoSpace, "the pool is full");
            var full = await Assert.ThrowsAsync<BlockDeviceException>(async () => await device.WriteAsync(2, Filled(3), WriteFlags.None));
            Assert.Equal(BlockDeviceErrorKind.NoSpace, full.Kind);
            Assert.Contains("the pool is full", full.Message);

            failing.Next = new IOException("EIO");
            var medium = await Assert.ThrowsAsync<BlockDeviceException>(async () => await device.ReadAsync(2, new byte[Block]));
            Assert.Equal(BlockDeviceErrorKind.Medium, medium.Kind);
            Assert.Contains("Read at LBA 2 failed: IOException: EIO", medium.Message);

            Assert.Equal(BlockDeviceErrorKind.OutOfRange, (await Assert.ThrowsAsync<BlockDeviceException>(async () => await device.WriteAsync(64, Filled(1), WriteFlags.None))).Kind);
            await device.WriteAsync(2, Filled(4), WriteFlags.None); // the session goes on
        }
    }

    [Fact]
    public async Task Disposing_waits_for_the_calls_in_flight_and_later_calls_fail()
    {
        var gated = new GatedDevice(_host.AddVolume("pvc-d"));
        _host.Serve("pvc-d", gated);
        var local = await _host.OpenLocalAsync("pvc-d", epoch: 1);
        gated.Close();
        var held = local.WriteAsync(0, Filled(5), WriteFlags.None).AsTask();
        await Frames.WaitUntilAsync(() => gated.Waiting == 1, "the write to reach the disk");

        var disposing = local.DisposeAsync().AsTask();
        await Task.Delay(200);
        Assert.False(disposing.IsCompleted, "the session ended with a write in flight");
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await local.ReadAsync(0, new byte[Block]));

        gated.Open();
        await disposing;
        await held;

        // The ended session no longer holds the volume: the same epoch opens again, over TCP too.
        await using var again = await _host.ConnectAsync("pvc-d", epoch: 1);
        Assert.Equal(Filled(5), await ReadAsync(again, 0));
    }

    [Fact]
    public async Task A_stopped_server_fails_the_local_sessions_calls_after_those_in_flight()
    {
        var gated = new GatedDevice(_host.AddVolume("pvc-s"));
        _host.Serve("pvc-s", gated);
        await using var local = await _host.OpenLocalAsync("pvc-s", epoch: 1);
        gated.Close();
        var held = local.WriteAsync(0, Filled(6), WriteFlags.None).AsTask();
        await Frames.WaitUntilAsync(() => gated.Waiting == 1, "the write to reach the disk");

        var stopping = _host.Server.DisposeAsync().AsTask();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted, "the server stopped with a local write in flight");
        gated.Open();
        await stopping;
        await held;

        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await local.WriteAsync(1, Filled(6), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Equal(BlockDeviceErrorKind.Unavailable, (await Assert.ThrowsAsync<BlockDeviceException>(() => _host.OpenLocalAsync("pvc-s", epoch: 2))).Kind);
    }

    /// <summary>A device whose next call fails with <see cref="Next"/>, thrown from the call's task.</summary>
    private sealed class FailingDevice(IBlockDevice inner) : IBlockDevice
    {
        private Exception? _next;

        public Exception? Next
        {
            set => Volatile.Write(ref _next, value);
        }

        public int BlockSize => inner.BlockSize;

        public long BlockCount => inner.BlockCount;

        public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default) => Fail() ?? inner.ReadAsync(lba, buffer, ct);

        public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default) =>
            Fail() ?? inner.WriteAsync(lba, data, flags, ct);

        public ValueTask FlushAsync(CancellationToken ct = default) => Fail() ?? inner.FlushAsync(ct);

        public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default) => Fail() ?? inner.UnmapAsync(lba, blockCount, ct);

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private ValueTask? Fail() => Interlocked.Exchange(ref _next, null) is { } e ? ValueTask.FromException(e) : null;
    }
}
