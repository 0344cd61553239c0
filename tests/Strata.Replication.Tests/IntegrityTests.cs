namespace Strata.Replication.Tests;

/// <summary>Payload checksums end to end: a write corrupted on the wire is refused, never applied.</summary>
public sealed class IntegrityTests
{
    [Fact]
    public async Task A_write_corrupted_on_the_wire_fails_and_the_block_on_disk_is_unchanged()
    {
        await using var host = ReplicaHost.Start();
        var file = host.AddVolume("pvc-c", 4096, 64);
        var before = Filled(0x11);
        await file.WriteAsync(5, before, WriteFlags.Fua);

        await using var proxy = new CorruptingProxy(host.EndPoint);
        await using var client = await ReplicaClient.ConnectAsync(proxy.EndPoint, "pvc-c", 1);

        // Through the proxy, untouched writes land.
        await client.WriteAsync(6, Filled(0x66), WriteFlags.None);
        var back = new byte[4096];
        await client.ReadAsync(6, back);
        Assert.Equal(Filled(0x66), back);

        proxy.CorruptNextWrite();
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await client.WriteAsync(5, Filled(0x22), WriteFlags.Fua));
        Assert.Equal(1, proxy.Corrupted);
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("CRC32C", e.Message);

        // The server closed that connection: the client says so on every later call.
        var later = await Assert.ThrowsAsync<BlockDeviceException>(async () => await client.ReadAsync(5, back));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, later.Kind);
        Assert.False(client.IsConnected);

        var onDisk = new byte[4096];
        await file.ReadAsync(5, onDisk);
        Assert.Equal(before, onDisk);

        // A new connection sees the old block and the good write.
        await using var again = await host.ConnectAsync("pvc-c", 1);
        await again.ReadAsync(5, back);
        Assert.Equal(before, back);
        await again.ReadAsync(6, back);
        Assert.Equal(Filled(0x66), back);
    }

    private static byte[] Filled(byte value)
    {
        var b = new byte[4096];
        b.AsSpan().Fill(value);
        return b;
    }
}
