namespace Strata.Replication.Tests;

/// <summary>Many requests in flight on one connection, answered out of order, against a model of the volume.</summary>
public sealed class ConcurrencyTests
{
    /// <summary>
    /// Rounds of 64 requests in flight at once: writes of random ranges (disjoint within a round, some FUA), reads of
    /// ranges no write of the round touches, an unmap now and then. Every read must see exactly the model; at the end
    /// the whole volume, through the client and in the file itself, is the model.
    /// </summary>
    [Fact]
    public async Task Sixty_four_concurrent_writes_and_reads_of_random_blocks_match_a_model()
    {
        const int blockSize = 512;
        const int blocks = 2048;
        await using var host = ReplicaHost.Start();
        var file = host.AddVolume("pvc-m", blockSize, blocks);
        await using var client = await host.ConnectAsync("pvc-m", 1);

        var model = new byte[blockSize * blocks];
        var random = new Random(64);
        int reads = 0, writes = 0;
        for (int round = 0; round < 150; round++)
        {
            var busy = new bool[blocks];
            var pending = new List<Task>(64);
            var checks = new List<(byte[] Buffer, byte[] Expected)>();
            for (int i = 0; i < 64; i++)
            {
                int count = random.Next(1, 17);
                int lba = random.Next(blocks - count + 1);
                if (busy.AsSpan(lba, count).Contains(true))
                {
                    i--;
                    continue;
                }

                busy.AsSpan(lba, count).Fill(true);
                int op = random.Next(10);
                if (op < 5)
                {
                    var data = new byte[count * blockSize];
                    random.NextBytes(data);
                    data.CopyTo(model, lba * blockSize);
                    pending.Add(client.WriteAsync(lba, data, op == 0 ? WriteFlags.Fua : WriteFlags.None).AsTask());
                    writes++;
                }
                else if (op < 9)
                {
                    var buffer = new byte[count * blockSize];
                    checks.Add((buffer, model.AsSpan(lba * blockSize, buffer.Length).ToArray()));
                    pending.Add(client.ReadAsync(lba, buffer).AsTask());
                    reads++;
                }
                else
                {
                    model.AsSpan(lba * blockSize, count * blockSize).Clear();
                    pending.Add(client.UnmapAsync(lba, count).AsTask());
                }
            }

            if (round % 10 == 0)
            {
                pending.Add(client.FlushAsync().AsTask());
            }

            await Task.WhenAll(pending);
            foreach (var (buffer, expected) in checks)
            {
                Assert.Equal(expected, buffer);
            }
        }

        Assert.True(reads > 3000 && writes > 4000, $"{reads} reads, {writes} writes");
        var whole = new byte[model.Length];
        await client.ReadAsync(0, whole);
        Assert.Equal(model, whole);
        var onDisk = new byte[model.Length];
        await file.ReadAsync(0, onDisk);
        Assert.Equal(model, onDisk);
    }

    [Fact]
    public async Task More_requests_than_slots_wait_their_turn_and_all_complete()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-s", 512, 4096);
        await using var client = await host.ConnectAsync("pvc-s", 1);
        var data = new byte[512 * 4096];
        Random.Shared.NextBytes(data);
        await Task.WhenAll(Enumerable.Range(0, 4096).Select(b => client.WriteAsync(b, data.AsMemory(b * 512, 512), WriteFlags.None).AsTask()));
        var back = new byte[data.Length];
        await Task.WhenAll(Enumerable.Range(0, 1024).Select(i => client.ReadAsync(i * 4, back.AsMemory(i * 2048, 2048)).AsTask()));
        Assert.Equal(data, back);
    }

    [Fact]
    public async Task Requests_larger_than_a_frame_are_split()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-big", 4096, 5000); // ~20 MiB: three frames each way
        await using var client = await host.ConnectAsync("pvc-big", 1);
        var data = new byte[4096 * 5000];
        Random.Shared.NextBytes(data);
        await client.WriteAsync(0, data, WriteFlags.None);
        var back = new byte[data.Length];
        await client.ReadAsync(0, back);
        Assert.Equal(data, back);
    }
}
