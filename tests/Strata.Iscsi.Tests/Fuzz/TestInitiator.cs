using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>What a test initiator offers at login (RFC 7143 13 for the keys' meaning).</summary>
internal sealed record LoginSettings
{
    public string InitiatorName { get; init; } = "iqn.2026-11.io.strata.test:fuzz";

    public string? TargetName { get; init; }

    public bool Discovery { get; init; }

    public ulong Isid { get; init; } = 0x800000000001;

    /// <summary>First CmdSN of the session: the login's CmdSN, which the first command reuses (RFC 7143 4.2.2.1).</summary>
    public uint InitialCmdSN { get; init; }

    public string HeaderDigest { get; init; } = "None";

    public string DataDigest { get; init; } = "None";

    public int MaxRecvDataSegmentLength { get; init; } = 262144;

    public bool ImmediateData { get; init; } = true;

    public bool InitialR2T { get; init; }

    public int MaxBurstLength { get; init; } = 262144;

    public int FirstBurstLength { get; init; } = 65536;

    public int MaxOutstandingR2T { get; init; } = 1;
}

/// <summary>The answer of a SCSI command: status, sense and the data read.</summary>
internal sealed record ScsiResult(byte Response, byte Status, byte[] Sense, byte[] DataIn)
{
    public bool Good => Response == 0 && Status == 0;

    /// <summary>CHECK CONDITION with sense key UNIT ATTENTION (fixed or descriptor format).</summary>
    public bool UnitAttention => Status == 0x02 && Sense.Length >= 3 && ((Sense[0] & 0x7F) is 0x70 or 0x71 ? Sense[2] & 0x0F : Sense[1] & 0x0F) == 0x06;

    public override string ToString() => $"response {Response} status 0x{Status:x2} sense {Convert.ToHexString(Sense)}";
}

/// <summary>Raised when the target breaks the protocol in a way a real initiator would choke on.</summary>
internal sealed class TargetMisbehaved(string message) : Exception(message);

/// <summary>
/// A small iSCSI initiator over a real TCP socket, for the fuzzer and the well-behaved session beside it: logs
/// in (with digests if the target agrees), sends any bytes, and parses what comes back strictly.
/// </summary>
internal sealed class TestInitiator : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _header = new byte[48];
    private uint _nextItt = 1;

    private TestInitiator(Socket socket)
    {
        _socket = socket;
    }

    public bool HeaderDigest { get; set; }

    public bool DataDigest { get; set; }

    public uint CmdSN { get; set; }

    public uint ExpStatSN { get; set; }

    public uint ExpCmdSN { get; private set; }

    public uint MaxCmdSN { get; private set; }

    /// <summary>The largest data segment the target accepts (what it declared).</summary>
    public int TargetMaxRecvDataSegmentLength { get; private set; } = 8192;

    /// <summary>What we declared: the target must never send a larger data segment.</summary>
    public int OwnMaxRecvDataSegmentLength { get; private set; } = 8192;

    public int MaxBurstLength { get; private set; } = 262144;

    public int FirstBurstLength { get; private set; } = 65536;

    public bool InitialR2T { get; private set; } = true;

    public bool ImmediateData { get; private set; } = true;

    public ushort Tsih { get; private set; }

    public Dictionary<string, string> TargetKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>Every PDU received that a helper did not wait for (rejects, stray responses).</summary>
    public List<TargetPdu> Others { get; } = [];

    public Socket Socket => _socket;

    public static async Task<TestInitiator> ConnectAsync(IPEndPoint endPoint, CancellationToken ct)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new TestInitiator(socket);
    }

    /// <summary>For raw replays that log in by bytes: what MaxRecvDataSegmentLength those bytes declared.</summary>
    public void AcceptDataSegmentsUpTo(int length) => OwnMaxRecvDataSegmentLength = length;

    public uint NextItt()
    {
        uint itt = _nextItt++;
        if (itt == 0xFFFFFFFF)
        {
            itt = _nextItt = 1;
        }

        return itt;
    }

    /// <summary>Sees every byte sent, with <see cref="Label"/> (then reset): the fuzzer's transcript.</summary>
    public Action<string, byte[]>? OnSend { get; set; }

    public string Label { get; set; } = "initiator";

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        OnSend?.Invoke(Label, bytes.ToArray());
        Label = "initiator";
        while (!bytes.IsEmpty)
        {
            int n = await _socket.SendAsync(bytes, SocketFlags.None, ct);
            bytes = bytes[n..];
        }
    }

    public Task SendAsync(InitiatorPdu pdu, CancellationToken ct) => SendAsync(pdu.Serialize(HeaderDigest, DataDigest), ct);

    /// <summary>Sends; false when the target has closed the connection (EPIPE, reset).</summary>
    public async Task<bool> TrySendAsync(InitiatorPdu pdu, CancellationToken ct)
    {
        try
        {
            await SendAsync(pdu, ct);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The next PDU, or null when the target closed (or reset) the connection.</summary>
    public async Task<TargetPdu?> ReceiveAsync(CancellationToken ct)
    {
        try
        {
            if (!await ReadExactlyAsync(_header, ct))
            {
                return null;
            }

            var header = (byte[])_header.Clone();
            int ahs = header[4] * 4;
            if (ahs > 0 && !await ReadExactlyAsync(new byte[ahs], ct))
            {
                return null;
            }

            if (HeaderDigest)
            {
                var digest = new byte[4];
                if (!await ReadExactlyAsync(digest, ct))
                {
                    return null;
                }

                if (BinaryPrimitives.ReadUInt32LittleEndian(digest) != TestCrc32C.Compute(header))
                {
                    throw new TargetMisbehaved($"target sent a wrong header digest on {Convert.ToHexString(header)}");
                }
            }

            int length = (header[5] << 16) | (header[6] << 8) | header[7];
            var data = new byte[length];
            if (length > 0)
            {
                var padded = new byte[((length + 3) & ~3) + (DataDigest ? 4 : 0)];
                if (!await ReadExactlyAsync(padded, ct))
                {
                    return null;
                }

                padded.AsSpan(0, length).CopyTo(data);
                if (DataDigest)
                {
                    int p = (length + 3) & ~3;
                    if (BinaryPrimitives.ReadUInt32LittleEndian(padded.AsSpan(p)) != TestCrc32C.Compute(padded.AsSpan(0, p)))
                    {
                        throw new TargetMisbehaved($"target sent a wrong data digest on {Convert.ToHexString(header)}");
                    }
                }
            }

            var pdu = new TargetPdu(header, data);
            Check(pdu);
            return pdu;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>Framing rules every target PDU obeys, whatever we sent (RFC 7143 11).</summary>
    private void Check(TargetPdu pdu)
    {
        if (pdu.Opcode is not (0x20 or 0x21 or 0x22 or 0x23 or 0x24 or 0x25 or 0x26 or 0x31 or 0x32 or 0x3F))
        {
            throw new TargetMisbehaved($"target sent a PDU with a non-target opcode: {pdu}");
        }

        if (pdu.Data.Length > OwnMaxRecvDataSegmentLength)
        {
            throw new TargetMisbehaved($"target sent a data segment of {pdu.Data.Length} bytes, above our MaxRecvDataSegmentLength {OwnMaxRecvDataSegmentLength}: {pdu}");
        }

        if (pdu.Opcode == 0x3F && pdu.Data.Length != 48)
        {
            throw new TargetMisbehaved($"a Reject must carry the rejected PDU's 48-byte header (RFC 7143 11.17): {pdu}");
        }

        // Every target PDU carries the window (RFC 7143 11.13.4 for the Login Response: valid when Status-Class
        // is 0). Skipping the Login Responses left ExpCmdSN 0 until the first answer in the full feature phase,
        // and the fuzzer's "behind ExpCmdSN" CmdSN (ExpCmdSN - 1 - n) then fell inside the real window of a
        // session whose CmdSN starts near 2^32: the target rightly held the command and answered it once the gap
        // filled, and the fuzzer took that for an answer to an ignored PDU.
        if (pdu.Opcode != 0x23 || pdu.Header[36] == 0)
        {
            ExpCmdSN = pdu.ExpCmdSN;
            MaxCmdSN = pdu.MaxCmdSN;
        }

        bool advancesStatSN = pdu.Opcode is 0x21 or 0x22 or 0x24 or 0x26 or 0x3F or 0x23
            || (pdu.Opcode == 0x20 && pdu.Itt != 0xFFFFFFFF)
            || (pdu.Opcode == 0x25 && (pdu.Flags & 0x01) != 0);
        if (advancesStatSN)
        {
            ExpStatSN = pdu.StatSN + 1;
        }
    }

    /// <summary>The next PDU that is not a target ping; pings (NOP-In with a TTT) are answered on the way.</summary>
    public async Task<TargetPdu?> NextAsync(CancellationToken ct)
    {
        while (true)
        {
            var pdu = await ReceiveAsync(ct);
            if (pdu is null)
            {
                return null;
            }

            if (pdu.Opcode == 0x20 && pdu.Itt == 0xFFFFFFFF)
            {
                uint ttt = pdu.Word(20);
                if (ttt != 0xFFFFFFFF && !await TrySendAsync(InitiatorPdu.NopOut(0xFFFFFFFF, ttt, CmdSN, ExpStatSN), ct))
                {
                    return null;
                }

                continue;
            }

            return pdu;
        }
    }

    private async Task<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        while (!buffer.IsEmpty)
        {
            int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, ct);
            if (n == 0)
            {
                return false;
            }

            buffer = buffer[n..];
        }

        return true;
    }

    /// <summary>
    /// Logs in: security stage with AuthMethod=None, then operational negotiation, to the full feature phase
    /// (RFC 7143 6.3). Returns the final Login Response, or the one that refused us; null when the target closed.
    /// </summary>
    public async Task<TargetPdu?> LoginAsync(LoginSettings s, CancellationToken ct)
    {
        CmdSN = s.InitialCmdSN;
        OwnMaxRecvDataSegmentLength = 8192; // the login phase's default (RFC 7143 13.12)
        uint itt = NextItt();
        var security = new List<(string, string)> { ("InitiatorName", s.InitiatorName), ("SessionType", s.Discovery ? "Discovery" : "Normal"), ("AuthMethod", "None") };
        if (s.TargetName is not null)
        {
            security.Insert(1, ("TargetName", s.TargetName));
        }

        var operational = new[]
        {
            ("HeaderDigest", s.HeaderDigest), ("DataDigest", s.DataDigest),
            ("MaxRecvDataSegmentLength", s.MaxRecvDataSegmentLength.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("ErrorRecoveryLevel", "0"), ("MaxConnections", "1"),
            ("InitialR2T", s.InitialR2T ? "Yes" : "No"), ("ImmediateData", s.ImmediateData ? "Yes" : "No"),
            ("MaxBurstLength", s.MaxBurstLength.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("FirstBurstLength", s.FirstBurstLength.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("MaxOutstandingR2T", s.MaxOutstandingR2T.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("DataPDUInOrder", "Yes"), ("DataSequenceInOrder", "Yes"), ("DefaultTime2Wait", "0"), ("DefaultTime2Retain", "0"),
        };

        int stage = 0;
        byte[] text = InitiatorPdu.Keys([.. security]);
        for (int round = 0; round < 16; round++)
        {
            int next = stage == 0 ? 1 : 3;
            await SendAsync(InitiatorPdu.Login(s.Isid, 0, itt, 0, CmdSN, ExpStatSN, stage, next, transit: true, text), ct);
            var response = await ReceiveAsync(ct);
            if (response is null)
            {
                return null;
            }

            if (response.Opcode != 0x23)
            {
                throw new TargetMisbehaved($"expected a Login Response, got {response}");
            }

            foreach (var (key, value) in ParseKeys(response.Data))
            {
                TargetKeys[key] = value;
            }

            if (response.Header[36] != 0)
            {
                return response; // Status-Class not success: refused
            }

            bool transit = (response.Flags & 0x80) != 0;
            int responseNext = response.Flags & 3;
            text = [];
            if (transit && stage == 0 && responseNext == 1)
            {
                stage = 1;
                text = InitiatorPdu.Keys(operational);
            }
            else if (transit && responseNext == 3)
            {
                Tsih = BinaryPrimitives.ReadUInt16BigEndian(response.Header.AsSpan(14));
                ApplyNegotiated(s);
                return response;
            }
            else if (stage == 1 && round == 1)
            {
                text = InitiatorPdu.Keys(operational);
            }
        }

        throw new TargetMisbehaved("login did not reach the full feature phase in 16 rounds");
    }

    private void ApplyNegotiated(LoginSettings s)
    {
        HeaderDigest = TargetKeys.GetValueOrDefault("HeaderDigest") == "CRC32C";
        DataDigest = TargetKeys.GetValueOrDefault("DataDigest") == "CRC32C";
        OwnMaxRecvDataSegmentLength = s.MaxRecvDataSegmentLength;
        TargetMaxRecvDataSegmentLength = Number("MaxRecvDataSegmentLength", 8192);
        MaxBurstLength = Math.Min(s.MaxBurstLength, Number("MaxBurstLength", s.MaxBurstLength));
        FirstBurstLength = Math.Min(s.FirstBurstLength, Number("FirstBurstLength", s.FirstBurstLength));
        InitialR2T = s.InitialR2T || TargetKeys.GetValueOrDefault("InitialR2T") == "Yes";
        ImmediateData = s.ImmediateData && TargetKeys.GetValueOrDefault("ImmediateData", "Yes") == "Yes";
    }

    private int Number(string key, int fallback) =>
        TargetKeys.TryGetValue(key, out var v) && int.TryParse(v, out int n) ? n : fallback;

    public static IEnumerable<(string Key, string Value)> ParseKeys(byte[] data)
    {
        foreach (var pair in Encoding.UTF8.GetString(data).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            yield return eq < 0 ? (pair, string.Empty) : (pair[..eq], pair[(eq + 1)..]);
        }
    }

    /// <summary>
    /// An immediate NOP-Out ping (RFC 7143 11.18) and its NOP-In. Other PDUs met on the way go to
    /// <see cref="Others"/>. Null when the target closed the connection instead.
    /// </summary>
    public async Task<TargetPdu?> PingAsync(CancellationToken ct, byte[]? data = null)
    {
        uint itt = NextItt();
        if (!await TrySendAsync(InitiatorPdu.NopOut(itt, 0xFFFFFFFF, CmdSN, ExpStatSN, data), ct))
        {
            return null;
        }

        while (true)
        {
            var pdu = await NextAsync(ct);
            if (pdu is null)
            {
                return null;
            }

            if (pdu.Opcode == 0x20 && pdu.Itt == itt)
            {
                // The echo is the ping data, cut to what we accept (RFC 7143 11.19.4).
                if (data is not null && (!data.AsSpan().StartsWith(pdu.Data) ||
                    (OwnMaxRecvDataSegmentLength < int.MaxValue && pdu.Data.Length != Math.Min(data.Length, OwnMaxRecvDataSegmentLength))))
                {
                    throw new TargetMisbehaved($"the NOP-In did not echo the ping data: {pdu}");
                }

                return pdu;
            }

            Others.Add(pdu);
            if (Others.Count > 100_000)
            {
                throw new TargetMisbehaved($"a flood of PDUs instead of the ping's answer, the last {pdu}");
            }
        }
    }

    /// <summary>
    /// Runs one SCSI command to completion as a conforming initiator: immediate data, unsolicited Data-Out up to
    /// FirstBurstLength, then Data-Out for each R2T; collects Data-In (RFC 7143 3.2.4, 11.7, 11.8).
    /// </summary>
    public async Task<ScsiResult?> CommandAsync(byte[] cdb, int readLength, byte[]? writeData, CancellationToken ct)
    {
        // A unit attention (the first command of a new I_T nexus gets POWER ON OR RESET) is reported once and
        // the command is retried, as the Linux SCSI mid-layer does (SAM-5 5.14).
        for (int attempt = 0; ; attempt++)
        {
            var result = await CommandOnceAsync(cdb, readLength, writeData, ct);
            if (result is not { UnitAttention: true } || attempt == 3)
            {
                return result;
            }
        }
    }

    private async Task<ScsiResult?> CommandOnceAsync(byte[] cdb, int readLength, byte[]? writeData, CancellationToken ct)
    {
        uint itt = NextItt();
        int edtl = writeData?.Length ?? readLength;
        int immediateLength = 0;
        if (writeData is not null && ImmediateData)
        {
            immediateLength = Math.Min(Math.Min(FirstBurstLength, TargetMaxRecvDataSegmentLength), writeData.Length);
        }

        int unsolicitedEnd = writeData is not null && !InitialR2T ? Math.Min(FirstBurstLength, writeData.Length) : immediateLength;
        bool final = unsolicitedEnd <= immediateLength;
        var command = InitiatorPdu.ScsiCommand(itt, CmdSN, ExpStatSN, cdb, (uint)edtl, read: readLength > 0, write: writeData is not null,
            immediateData: immediateLength > 0 ? writeData![..immediateLength] : null, final: final);
        CmdSN++;
        if (!await TrySendAsync(command, ct))
        {
            return null;
        }

        if (!final)
        {
            await SendDataOutAsync(itt, 0xFFFFFFFF, writeData!, immediateLength, unsolicitedEnd - immediateLength, ct);
        }

        var dataIn = new byte[readLength];
        int received = 0;
        uint expectedDataSN = 0;
        while (true)
        {
            var pdu = await NextAsync(ct);
            if (pdu is null)
            {
                return null;
            }

            if (pdu.Itt != itt)
            {
                Others.Add(pdu);
                continue;
            }

            switch (pdu.Opcode)
            {
                case 0x31: // R2T
                    {
                        uint ttt = pdu.Word(20);
                        int offset = (int)pdu.Word(40);
                        int length = (int)pdu.Word(44);
                        if (writeData is null || offset < 0 || length <= 0 || offset + length > writeData.Length)
                        {
                            throw new TargetMisbehaved($"R2T outside the write: {pdu}");
                        }

                        await SendDataOutAsync(itt, ttt, writeData, offset, length, ct);
                        break;
                    }

                case 0x25: // Data-In
                    {
                        int offset = (int)pdu.Word(40);
                        if (pdu.Word(36) != expectedDataSN++ || offset != received || offset + pdu.Data.Length > readLength)
                        {
                            throw new TargetMisbehaved($"Data-In out of order or beyond the read: {pdu}, expected DataSN {expectedDataSN - 1} offset {received}");
                        }

                        pdu.Data.CopyTo(dataIn, offset);
                        received += pdu.Data.Length;
                        if ((pdu.Flags & 0x01) != 0)
                        {
                            return new ScsiResult(0, pdu.Header[3], [], dataIn[..received]);
                        }

                        break;
                    }

                case 0x21: // SCSI Response
                    {
                        var sense = pdu.Data.Length >= 2 ? pdu.Data.AsSpan(2, Math.Min(BinaryPrimitives.ReadUInt16BigEndian(pdu.Data), pdu.Data.Length - 2)).ToArray() : [];
                        return new ScsiResult(pdu.Header[2], pdu.Header[3], sense, dataIn[..received]);
                    }

                default:
                    throw new TargetMisbehaved($"unexpected PDU for task {itt:x8}: {pdu}");
            }
        }
    }

    private async Task SendDataOutAsync(uint itt, uint ttt, byte[] data, int offset, int length, CancellationToken ct)
    {
        uint dataSN = 0;
        int end = offset + length;
        while (offset < end)
        {
            int n = Math.Min(TargetMaxRecvDataSegmentLength, end - offset);
            await SendAsync(InitiatorPdu.DataOut(itt, ttt, ExpStatSN, dataSN++, (uint)offset, data[offset..(offset + n)], final: offset + n == end), ct);
            offset += n;
        }
    }

    public static byte[] Read16(long lba, int blocks)
    {
        var cdb = new byte[16];
        cdb[0] = 0x88;
        BinaryPrimitives.WriteInt64BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteInt32BigEndian(cdb.AsSpan(10), blocks);
        return cdb;
    }

    public static byte[] Write16(long lba, int blocks)
    {
        var cdb = Read16(lba, blocks);
        cdb[0] = 0x8A;
        return cdb;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _socket.Dispose();
        await Task.CompletedTask;
    }
}
