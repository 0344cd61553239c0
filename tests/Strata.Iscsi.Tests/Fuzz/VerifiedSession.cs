namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// The honest initiator beside the fuzzer: one session on its own target that writes random data to random
/// places, reads it back and compares against a shadow copy, the whole time the fuzzer runs. BUSY and TASK
/// SET FULL (SAM-5 5.3) are retried, as every initiator does; any other error, a closed connection, or one
/// wrong byte is a failure.
/// </summary>
internal sealed class VerifiedSession(FuzzTarget target, int seed)
{
    private const int Region = 8 << 20; // the part of the LUN it uses, shadowed in memory

    public string? Error { get; private set; }

    public async Task<string> RunAsync(CancellationToken stop)
    {
        var rng = new Random(seed ^ 0x5EED);
        var shadow = new byte[Region];
        int writes = 0, reads = 0, retries = 0;
        try
        {
            using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, connect.Token);
            var login = await initiator.LoginAsync(new LoginSettings
            {
                InitiatorName = "iqn.2026-11.io.strata.test:verifier",
                TargetName = FuzzTarget.VerifiedName,
                Isid = 0x00023D000001,
                HeaderDigest = "CRC32C,None",
                DataDigest = "CRC32C,None",
                ImmediateData = true,
                InitialR2T = false,
                MaxRecvDataSegmentLength = 65536,
                MaxOutstandingR2T = 4,
            }, connect.Token);
            if (login is null || login.Header[36] != 0)
            {
                throw new InvalidOperationException($"login refused: {login}");
            }

            while (!stop.IsCancellationRequested)
            {
                int blocks = rng.Next(1, 512);
                int offset = rng.Next(0, (Region / FuzzTarget.BlockSize) - blocks) * FuzzTarget.BlockSize;
                var data = new byte[blocks * FuzzTarget.BlockSize];
                rng.NextBytes(data);
                var w = await RetryAsync(ct => initiator.CommandAsync(TestInitiator.Write16(offset / FuzzTarget.BlockSize, blocks), 0, data, ct));
                data.CopyTo(shadow, offset);
                writes++;

                // Read back a larger window around it: neighbours must be what we wrote before, not fuzz.
                int start = Math.Max(0, offset - (64 * 1024)) / FuzzTarget.BlockSize * FuzzTarget.BlockSize;
                int length = Math.Min(Region - start, data.Length + (128 * 1024)) / FuzzTarget.BlockSize * FuzzTarget.BlockSize;
                var r = await RetryAsync(ct => initiator.CommandAsync(TestInitiator.Read16(start / FuzzTarget.BlockSize, length / FuzzTarget.BlockSize), length, null, ct));
                reads++;
                if (!r.DataIn.AsSpan().SequenceEqual(shadow.AsSpan(start, length)))
                {
                    int at = r.DataIn.AsSpan().CommonPrefixLength(shadow.AsSpan(start, length));
                    throw new InvalidOperationException($"wrong data at byte {start + at} of the LUN after {writes} writes");
                }

                _ = w;
            }

            // Finally, all of it.
            var all = await RetryAsync(ct => initiator.CommandAsync(TestInitiator.Read16(0, Region / FuzzTarget.BlockSize), Region, null, ct));
            if (!all.DataIn.AsSpan().SequenceEqual(shadow))
            {
                throw new InvalidOperationException("wrong data in the final full read");
            }

            async Task<ScsiResult> RetryAsync(Func<CancellationToken, Task<ScsiResult?>> command)
            {
                for (int attempt = 0; ; attempt++)
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    var result = await command(cts.Token) ?? throw new InvalidOperationException("the target closed the well-behaved session");
                    if (result.Good)
                    {
                        return result;
                    }

                    if (result.Response == 0 && result.Status is 0x08 or 0x28 && attempt < 1000)
                    {
                        retries++;
                        await Task.Delay(10, CancellationToken.None);
                        continue;
                    }

                    throw new InvalidOperationException($"command failed: {result}");
                }
            }

            if (initiator.Others.Count > 0)
            {
                throw new InvalidOperationException($"stray PDUs: {string.Join("; ", initiator.Others.Take(3))}");
            }

            return $"{writes} writes and {reads} verified reads, {retries} BUSY/TASK SET FULL retries, digests {(initiator.HeaderDigest ? "on" : "off")}/{(initiator.DataDigest ? "on" : "off")}";
        }
        catch (Exception e)
        {
            Error = $"{e.GetType().Name}: {e.Message} (after {writes} writes, {reads} reads)";
            return Error;
        }
    }
}
