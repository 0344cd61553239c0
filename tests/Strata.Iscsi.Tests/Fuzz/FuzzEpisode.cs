using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>What the target may do after a fuzzed PDU, decided from what we sent (RFC 7143 7, 11).</summary>
internal enum Framing
{
    /// <summary>The lengths in the header match the bytes sent: the stream stays in step, so the target must
    /// answer a following ping or close the connection.</summary>
    Framed,

    /// <summary>The target cannot go on (a data segment above its MaxRecvDataSegmentLength, a header digest
    /// error): it must close the connection, possibly after a Reject.</summary>
    MustClose,

    /// <summary>The header lies about what follows (or the bytes are soup): the target cannot know where the
    /// next PDU starts. We stop sending (half-close); it must then close, never hang.</summary>
    Unframed,
}

/// <summary>One fuzzed PDU (or chunk of bytes) and what the target may do with it.</summary>
internal sealed record FuzzPdu(string What, byte[] Bytes, Framing Framing, uint? SilentItt = null);

/// <summary>Totals of one fuzz run, shared by its episodes.</summary>
internal sealed class FuzzRun
{
    private long _pdus;

    public long Pdus => Interlocked.Read(ref _pdus);

    public ConcurrentDictionary<string, int> Counts { get; } = new(StringComparer.Ordinal);

    public void Sent(string what)
    {
        Interlocked.Increment(ref _pdus);
        Counts.AddOrUpdate(what, 1, (_, n) => n + 1);
    }

    public void Count(string what) => Counts.AddOrUpdate(what, 1, (_, n) => n + 1);
}

/// <summary>A fuzz run failed: the message says why and how to replay it.</summary>
internal sealed class FuzzFailure(string message) : Exception(message);

/// <summary>
/// One fuzz episode: one TCP connection to the fuzzed target, driven by its own seeded generator. Kinds: a
/// non-login PDU first, a mutated login, or a proper login followed by a run of malformed PDUs, each checked
/// with a ping (or a half-close and a wait for the target to close, when the stream is out of step).
/// </summary>
internal sealed class FuzzEpisode
{
    /// <summary>How long the target may take to answer a ping, or to close, before the episode counts as hung: a
    /// safety net far beyond the milliseconds it takes, so a loaded machine cannot pass for a hang.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly byte[] InterestingOpcodes =
        [0x07, 0x08, 0x0B, 0x0F, 0x11, 0x13, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x23, 0x25, 0x31, 0x3F, 0x3E];

    private readonly int _index;
    private readonly Random _rng;
    private readonly FuzzTarget _target;
    private readonly FuzzRun _run;
    private readonly List<(string What, byte[] Bytes)> _transcript = [];
    private readonly HashSet<uint> _silentItts = [];
    private readonly List<uint> _liveItts = [];
    private readonly Dictionary<uint, (uint Ttt, uint Offset, uint Length)> _r2ts = [];

    /// <summary>ITTs of non-immediate control requests (NOP-Out with a tag, Text, Task Management, Logout) the
    /// target may be holding ahead of a CmdSN gap (RFC 7143 3.2.2.1): it processes them once the gap fills, which
    /// our own later write can do, so their answers (and the tasks a Task Management request or a Logout ends)
    /// may come late. Forgotten when an answer with the tag is seen.</summary>
    private readonly List<uint> _mayBeHeld = [];
    private TestInitiator _initiator = null!;
    private uint _silentNext = 0x50000000;

    public FuzzEpisode(int index, FuzzTarget target, FuzzRun run)
    {
        _index = index;
        _rng = FuzzSeed.ForEpisode(index);
        _target = target;
        _run = run;
    }

    public async Task RunAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            _initiator = await TestInitiator.ConnectAsync(_target.EndPoint, cts.Token);
            _initiator.OnSend = (what, bytes) => _transcript.Add((what, bytes));
            await using (_initiator)
            {
                int kind = _rng.Next(100);
                if (kind < 8)
                {
                    await BeforeLoginAsync();
                }
                else if (kind < 25)
                {
                    await LoginFuzzAsync();
                }
                else
                {
                    await FullFeatureFuzzAsync();
                }
            }
        }
        catch (FuzzFailure)
        {
            throw;
        }
        catch (Exception e) when (e is TargetMisbehaved or OperationCanceledException or IOException or SocketException)
        {
            throw Fail(e is OperationCanceledException ? "the episode hung (no answer and no close)" : e.Message);
        }
    }

    // ---------------- Episode kinds ----------------

    /// <summary>Anything but a Login Request first: the target must close (RFC 7143 6.3), answering nothing else.</summary>
    private async Task BeforeLoginAsync()
    {
        var pdu = _rng.Next(4) switch
        {
            0 => Soup(),
            1 => Truncated(AnyFullFeaturePdu()),
            _ => AnyFullFeaturePdu(),
        };
        await SendAsync(pdu);
        if (pdu.Framing != Framing.Framed || _rng.Next(2) == 0)
        {
            HalfClose();
        }

        await ExpectCloseAsync(pdu, allowLoginResponse: pdu.Framing != Framing.Framed || (pdu.Bytes[0] & 0x3F) == 0x03);
        _run.Count("episode: before login");
    }

    /// <summary>Mutated Login Requests: each gets a Login Response or the connection closes. A login that
    /// succeeds anyway then has to carry a read and pings with whatever was negotiated.</summary>
    private async Task LoginFuzzAsync()
    {
        ulong isid = 0x400000000000UL | (uint)_index;
        int rounds = _rng.Next(1, 4);
        for (int r = 0; r < rounds; r++)
        {
            var pdu = MutatedLogin(isid, r);
            await SendAsync(pdu);
            if (pdu.Framing == Framing.Unframed)
            {
                HalfClose();
                await ExpectCloseAsync(pdu, allowLoginResponse: true);
                return;
            }

            using var cts = new CancellationTokenSource(Deadline);
            var response = await _initiator.ReceiveAsync(cts.Token);
            if (response is null)
            {
                _run.Count("login fuzz: closed");
                return;
            }

            if (response.Opcode != 0x23)
            {
                throw Fail($"expected a Login Response, got {response}");
            }

            if (response.Header[36] != 0)
            {
                // Refused: the target closes after a failed login (RFC 7143 11.13.5).
                await ExpectCloseAsync(pdu, allowLoginResponse: true);
                _run.Count("login fuzz: refused");
                return;
            }

            _initiator.ExpStatSN = response.StatSN + 1;
            if ((response.Flags & 0x80) != 0 && (response.Flags & 3) == 3)
            {
                _run.Count("login fuzz: logged in anyway");
                await AfterOddLoginAsync(response);
                return;
            }
        }

        _run.Count("login fuzz: abandoned mid-login");
    }

    /// <summary>A mutated login was accepted: the negotiated values may be odd, but the target must still
    /// answer a read and pings (with data) within the deadline, or close.</summary>
    private async Task AfterOddLoginAsync(TargetPdu response)
    {
        foreach (var (key, value) in TestInitiator.ParseKeys(response.Data))
        {
            _initiator.TargetKeys[key] = value;
        }

        // Whatever we declared, accept what comes back (we are checking liveness, not our own limits).
        _initiator.AcceptDataSegmentsUpTo(int.MaxValue);
        _initiator.HeaderDigest = _initiator.TargetKeys.GetValueOrDefault("HeaderDigest") == "CRC32C";
        _initiator.DataDigest = _initiator.TargetKeys.GetValueOrDefault("DataDigest") == "CRC32C";
        using var cts = new CancellationTokenSource(Deadline);
        var read = InitiatorPdu.ScsiCommand(_initiator.NextItt(), _initiator.CmdSN++, _initiator.ExpStatSN, TestInitiator.Read16(0, 64), 32768, read: true, write: false);
        await SendAsync(new FuzzPdu("read after odd login", read.Serialize(_initiator.HeaderDigest, _initiator.DataDigest), Framing.Framed), malformed: false);
        await PingOrCloseAsync(new FuzzPdu("odd login", [], Framing.Framed), new byte[100]);
    }

    /// <summary>A proper login with random (valid) parameters, then malformed PDUs, each followed by a check.</summary>
    private async Task FullFeatureFuzzAsync()
    {
        var settings = new LoginSettings
        {
            TargetName = FuzzTarget.FuzzedName,
            Isid = 0x800000000000UL | (uint)_index,
            InitialCmdSN = _rng.Next(4) == 0 ? (uint)(0xFFFFFFFF - _rng.Next(200)) : (uint)_rng.NextInt64(0, 1L << 32),
            HeaderDigest = Pick("CRC32C,None", "None", "CRC32C"),
            DataDigest = Pick("CRC32C,None", "None", "CRC32C"),
            MaxRecvDataSegmentLength = Pick(512, 4096, 8192, 65536, 262144, 16777215),
            ImmediateData = _rng.Next(2) == 0,
            InitialR2T = _rng.Next(2) == 0,
            MaxBurstLength = Pick(512, 65536, 262144, 1048576),
            FirstBurstLength = Pick(512, 8192, 65536),
            MaxOutstandingR2T = Pick(1, 2, 16),
        };
        settings = settings with { FirstBurstLength = Math.Min(settings.FirstBurstLength, settings.MaxBurstLength) };
        using (var cts = new CancellationTokenSource(Deadline))
        {
            var login = await _initiator.LoginAsync(settings, cts.Token);
            if (login is null || login.Header[36] != 0)
            {
                throw Fail($"a well-formed login was refused: {login}");
            }
        }

        _run.Count(_initiator.HeaderDigest ? "session: header digest on" : "session: header digest off");
        _run.Count(_initiator.DataDigest ? "session: data digest on" : "session: data digest off");
        // PDUs the target can stay in step with, each checked with a ping; then, most of the time, one that ends
        // the connection (a lie about lengths, soup, truncation, a length above the limit, a digest error).
        int steps = _rng.Next(10, 50);
        for (int i = 0; i < steps; i++)
        {
            int what = _rng.Next(100);
            if (what < 8)
            {
                if (SerialNumberLess(_initiator.MaxCmdSN, _initiator.CmdSN))
                {
                    // The window is closed (writes of ours wait for data that never comes): a command now would be
                    // silently ignored (RFC 7143 3.2.2.1), so there is no write to wait for.
                    _run.Count("write skipped: command window closed");
                    continue;
                }

                if (!await MutatedWriteAsync())
                {
                    return;
                }

                continue;
            }

            var pdu = what switch
            {
                < 40 => ScsiCommand(),
                < 58 => ControlPdu(),
                < 63 => OutOfWindow(),
                < 71 => DataOutForNothing(),
                < 85 => BitFlipped(inStep: true),
                < 88 => MalformedAhs(),
                < 91 when _initiator.DataDigest => BadDigest(),
                < 96 => Reserved(),
                _ => BrokenText(),
            };

            // A ping after most PDUs, after every one at the end: two in a row in between is also a test.
            if (!await SendAndCheckAsync(pdu, ping: i == steps - 1 || _rng.Next(2) == 0))
            {
                return;
            }
        }

        if (_rng.Next(10) < 6)
        {
            var ender = _rng.Next(7) switch
            {
                0 => LyingLength(),
                1 => Soup(),
                2 => Truncated(AnyFullFeaturePdu()),
                3 => TooLong(),
                4 => BadDigest(),
                _ => BitFlipped(inStep: false),
            };
            await SendAndCheckAsync(ender);
            return;
        }

        // A clean logout to finish, sometimes (RFC 7143 11.14): the target answers and closes.
        if (_rng.Next(3) == 0)
        {
            var logout = InitiatorPdu.Logout(_initiator.NextItt(), _initiator.CmdSN, _initiator.ExpStatSN);
            await SendAsync(new FuzzPdu("logout", logout.Serialize(_initiator.HeaderDigest, _initiator.DataDigest), Framing.Framed), malformed: false);
            await ExpectCloseAsync(new FuzzPdu("logout", [], Framing.Framed), allowLoginResponse: false);
        }
    }

    /// <summary>Sends a fuzzed PDU and checks the target's answer as its framing demands. False when the
    /// connection is over.</summary>
    private async Task<bool> SendAndCheckAsync(FuzzPdu pdu, bool ping = true)
    {
        await SendAsync(pdu);
        switch (pdu.Framing)
        {
            case Framing.Framed:
                NoteIfMayBeHeld(pdu);
                return !ping || await PingOrCloseAsync(pdu);
            case Framing.MustClose:
                await ExpectCloseAsync(pdu, allowLoginResponse: false);
                return false;
            default:
                HalfClose();
                await ExpectCloseAsync(pdu, allowLoginResponse: false);
                return false;
        }
    }

    /// <summary>We stop sending (FIN); the target must close its side in turn.</summary>
    private void HalfClose()
    {
        try
        {
            _initiator.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Already reset by the target: closed is what we wait for anyway.
        }
    }

    private static bool SerialNumberLess(uint a, uint b) => a != b && (int)(a - b) < 0;

    /// <summary>
    /// Reads the header the target will read (whatever made it: a generator, a bit flip) and remembers the ITT when
    /// it is a non-immediate control request whose CmdSN is not behind the last ExpCmdSN we saw: the target may hold
    /// it ahead of a gap, one of our own making included (a command the target rejected without using its CmdSN),
    /// and process it later (RFC 7143 3.2.2.1). Conservative: one processed at once is only forgotten later.
    /// </summary>
    private void NoteIfMayBeHeld(FuzzPdu pdu)
    {
        if (pdu.Bytes.Length < 48 || (pdu.Bytes[0] & 0x40) != 0)
        {
            return;
        }

        int opcode = pdu.Bytes[0] & 0x3F;
        uint itt = BinaryPrimitives.ReadUInt32BigEndian(pdu.Bytes.AsSpan(16));
        uint cmdSN = BinaryPrimitives.ReadUInt32BigEndian(pdu.Bytes.AsSpan(24));
        bool control = opcode is 0x02 or 0x04 or 0x06 || (opcode == 0x00 && itt != 0xFFFFFFFF);
        if (!control || SerialNumberLess(cmdSN, _initiator.ExpCmdSN))
        {
            return;
        }

        _mayBeHeld.Add(itt);
        if (_mayBeHeld.Count > 1024)
        {
            _mayBeHeld.RemoveAt(0);
        }

        _run.Count("model: control request may be held ahead of a gap");
    }

    // ---------------- Checks ----------------

    /// <summary>
    /// After a framed PDU: an immediate NOP-Out ping must be answered (the target is alive and in step), or the
    /// connection closed. False when it closed. Everything met on the way is checked: no answer may come for a
    /// PDU that RFC 7143 3.2.2.1 says is silently ignored.
    /// </summary>
    private async Task<bool> PingOrCloseAsync(FuzzPdu after, byte[]? data = null)
    {
        using var cts = new CancellationTokenSource(Deadline);
        _initiator.Others.Clear();
        TargetPdu? pong;
        try
        {
            pong = await _initiator.PingAsync(cts.Token, data);
        }
        catch (OperationCanceledException)
        {
            throw Fail($"no answer to a ping and no close within {Deadline.TotalSeconds} s after '{after.What}'");
        }

        foreach (var other in _initiator.Others)
        {
            Observe(other, after);
        }

        if (pong is null)
        {
            _run.Count("outcome: closed by target");
            return false;
        }

        // Commands out of step are ignored, not answered: resynchronise on the target's ExpCmdSN.
        _initiator.CmdSN = pong.ExpCmdSN;
        _run.Count("outcome: alive");
        return true;
    }

    /// <summary>The target must close the connection within the deadline, sending nothing but Rejects (and, in
    /// login, Login Responses) on the way.</summary>
    private async Task ExpectCloseAsync(FuzzPdu after, bool allowLoginResponse)
    {
        using var cts = new CancellationTokenSource(Deadline);
        try
        {
            while (true)
            {
                var pdu = await _initiator.NextAsync(cts.Token);
                if (pdu is null)
                {
                    _run.Count("outcome: closed by target");
                    return;
                }

                if (pdu.Opcode == 0x23 && !allowLoginResponse)
                {
                    throw Fail($"a Login Response in the full feature phase after '{after.What}': {pdu}");
                }

                Observe(pdu, after);
            }
        }
        catch (OperationCanceledException)
        {
            throw Fail($"the target neither closed the connection nor stopped within {Deadline.TotalSeconds} s after '{after.What}' ({after.Framing})");
        }
    }

    private void Observe(TargetPdu pdu, FuzzPdu after)
    {
        if (pdu.Itt != 0xFFFFFFFF && _silentItts.Contains(pdu.Itt))
        {
            throw Fail($"the target answered a PDU that RFC 7143 3.2.2.1 says it must silently ignore: {pdu}");
        }

        if (pdu.Opcode is 0x22 or 0x24 or 0x26 || (pdu.Opcode == 0x20 && pdu.Itt != 0xFFFFFFFF))
        {
            _mayBeHeld.Remove(pdu.Itt); // answered: no longer held
        }

        if (pdu.Opcode == 0x3F)
        {
            _run.Count($"outcome: reject 0x{pdu.Header[2]:x2}");
        }

        if (pdu.Opcode == 0x31)
        {
            _r2ts[pdu.Itt] = (pdu.Word(20), pdu.Word(40), pdu.Word(44));
        }

        _ = after;
    }

    // ---------------- Generators: full feature phase ----------------

    private FuzzPdu Framed(string what, InitiatorPdu pdu, uint? silent = null) =>
        new(what, pdu.Serialize(_initiator.HeaderDigest, _initiator.DataDigest), Framing.Framed, silent);

    private uint Itt()
    {
        int r = _rng.Next(20);
        if (r == 0 && _liveItts.Count > 0)
        {
            return _liveItts[_rng.Next(_liveItts.Count)]; // reused while (maybe) still in flight
        }

        if (r == 1)
        {
            return 0xFFFFFFFF; // the reserved tag
        }

        uint itt = _initiator.NextItt();
        _liveItts.Add(itt);
        if (_liveItts.Count > 64)
        {
            _liveItts.RemoveAt(0);
        }

        return itt;
    }

    /// <summary>CmdSN: mostly right (and then consumed), sometimes one of the wrong kinds.</summary>
    private (uint CmdSN, bool Consumed) CmdSN(bool immediate)
    {
        uint expected = _initiator.CmdSN;
        if (immediate)
        {
            return (_rng.Next(4) == 0 ? (uint)_rng.NextInt64(0, 1L << 32) : expected, false);
        }

        return _rng.Next(10) switch
        {
            0 => (expected + (uint)_rng.Next(1, 200), false), // ahead: held (or ignored when beyond MaxCmdSN)
            1 => (expected - (uint)_rng.Next(1, 1000), false), // behind: a duplicate, ignored
            _ => (_initiator.CmdSN++, true),
        };
    }

    private FuzzPdu ScsiCommand()
    {
        bool immediate = _rng.Next(8) == 0;
        var (cmdSN, _) = CmdSN(immediate);
        byte[] cdb = Cdb();
        int transfer = BlocksOf(cdb) * FuzzTarget.BlockSize;
        uint edtl = _rng.Next(8) switch
        {
            0 => 0,
            1 => (uint)_rng.NextInt64(0, 1L << 32),
            2 => 16u << 20,
            3 => (16u << 20) + 1,
            4 => (uint)_rng.Next(0, 1 << 20),
            _ => (uint)Math.Clamp(transfer, 0, 1 << 20),
        };
        bool isWrite = cdb[0] is 0x0A or 0x2A or 0xAA or 0x8A or 0x2E or 0x8E or 0x41 or 0x93;
        bool read = _rng.Next(8) == 0 ? _rng.Next(2) == 0 : !isWrite && edtl > 0;
        bool write = _rng.Next(8) == 0 ? _rng.Next(2) == 0 : isWrite;
        byte[]? immediateData = null;
        if (write && _rng.Next(3) != 0)
        {
            int max = Math.Min(_initiator.TargetMaxRecvDataSegmentLength, (int)Math.Min(edtl, 1u << 20));
            int length = _rng.Next(6) == 0 ? _rng.Next(1, _initiator.TargetMaxRecvDataSegmentLength + 1) : _rng.Next(0, max + 1);
            immediateData = Bytes(length);
        }

        uint itt = Itt();
        var pdu = InitiatorPdu.ScsiCommand(itt, cmdSN, _initiator.ExpStatSN, cdb, edtl, read, write, immediateData,
            final: _rng.Next(4) != 0, immediate: immediate, lun: _rng.Next(10) == 0 ? RandomLun() : 0);
        if (_rng.Next(10) == 0)
        {
            pdu.Flags = (byte)_rng.Next(256); // every flag combination, ATTR values 5-7 included
        }

        return Framed($"scsi command 0x{cdb[0]:x2} edtl {edtl}", pdu);
    }

    private ulong RandomLun() => _rng.Next(3) switch
    {
        0 => (ulong)_rng.Next(1, 256) << 48,
        1 => (0x4000UL | (uint)_rng.Next(0x4000)) << 48,
        _ => (ulong)_rng.NextInt64(),
    };

    /// <summary>CDBs that matter to a block device: reads and writes past the end, absurd lengths, and the rest.</summary>
    private byte[] Cdb()
    {
        long blocks = FuzzTarget.BlockCount;
        long lba = _rng.Next(6) switch
        {
            0 => blocks - 1,
            1 => blocks,
            2 => blocks + _rng.Next(1000),
            3 => long.MaxValue - _rng.Next(10),
            4 => -1,
            _ => _rng.NextInt64(0, blocks),
        };
        int count = _rng.Next(6) switch
        {
            0 => 0,
            1 => 1,
            2 => int.MaxValue,
            3 => -1,
            4 => _rng.Next(1, 1 << 16),
            _ => _rng.Next(1, 512),
        };
        var cdb = new byte[_rng.Next(20) == 0 ? _rng.Next(17, 64) : 16];
        switch (_rng.Next(14))
        {
            case 0:
            case 1:
                cdb[0] = 0x88;
                BinaryPrimitives.WriteInt64BigEndian(cdb.AsSpan(2), lba);
                BinaryPrimitives.WriteInt32BigEndian(cdb.AsSpan(10), count);
                break;
            case 2:
            case 3:
                cdb[0] = 0x8A;
                BinaryPrimitives.WriteInt64BigEndian(cdb.AsSpan(2), lba);
                BinaryPrimitives.WriteInt32BigEndian(cdb.AsSpan(10), count);
                break;
            case 4:
                cdb[0] = 0x28;
                BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), (uint)lba);
                BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), (ushort)count);
                break;
            case 5:
                cdb[0] = 0x2A;
                BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), (uint)lba);
                BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), (ushort)count);
                break;
            case 6:
                cdb[0] = 0x12; // INQUIRY, EVPD and page random
                cdb[1] = (byte)_rng.Next(4);
                cdb[2] = (byte)Pick(0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2, _rng.Next(256));
                BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(3), (ushort)_rng.Next(65536));
                break;
            case 7:
                cdb[0] = 0x9E; // READ CAPACITY 16 / service actions
                cdb[1] = (byte)_rng.Next(32);
                BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), (uint)_rng.NextInt64(0, 1L << 32));
                break;
            case 8:
                cdb[0] = 0xA0; // REPORT LUNS
                BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(6), (uint)_rng.NextInt64(0, 1L << 32));
                break;
            case 9:
                cdb[0] = (byte)Pick(0x1A, 0x5A, 0x00, 0x25, 0x35, 0x91, 0x03, 0x1B, 0x42, 0x93, 0x41, 0x2F, 0x8F, 0x89);
                _rng.NextBytes(cdb.AsSpan(1, 9));
                break;
            case 10:
                cdb[0] = (byte)Pick(0x08, 0x0A); // READ/WRITE 6: 21-bit LBA, 0 blocks means 256
                cdb[1] = (byte)(_rng.Next(32));
                cdb[2] = (byte)_rng.Next(256);
                cdb[3] = (byte)_rng.Next(256);
                cdb[4] = (byte)_rng.Next(256);
                break;
            default:
                _rng.NextBytes(cdb);
                break;
        }

        if (cdb.Length > 16)
        {
            _rng.NextBytes(cdb.AsSpan(16));
        }

        return cdb;
    }

    private static int BlocksOf(byte[] cdb) => cdb[0] switch
    {
        0x88 or 0x8A => (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(cdb.AsSpan(10)), 1 << 16),
        0x28 or 0x2A => BinaryPrimitives.ReadUInt16BigEndian(cdb.AsSpan(7)),
        _ => 8,
    };

    /// <summary>A write done properly except for one Data-Out (RFC 7143 11.7, 3.2.4.2): wrong ITT, TTT, offset,
    /// DataSN, an overrun, a missing F, a duplicate, data before any R2T. False when the target closed.</summary>
    private async Task<bool> MutatedWriteAsync()
    {
        // Our CmdSN may be ahead of the target's after PDUs it rejected or ignored: resynchronise first, or the
        // write would wait behind a gap of our own making.
        if (!await PingOrCloseAsync(new FuzzPdu("resync before a write", [], Framing.Framed)))
        {
            return false;
        }

        int blocks = _rng.Next(16) == 0 ? _rng.Next(1, 600) : _rng.Next(1, 16);
        long lba = _rng.NextInt64(0, FuzzTarget.BlockCount - blocks);
        var data = Bytes(blocks * FuzzTarget.BlockSize);
        uint itt = _initiator.NextItt();
        int segment = _initiator.TargetMaxRecvDataSegmentLength;
        int immediateLength = _initiator.ImmediateData ? Math.Min(Math.Min(_initiator.FirstBurstLength, segment), data.Length) : 0;
        int unsolicitedEnd = !_initiator.InitialR2T ? Math.Min(_initiator.FirstBurstLength, data.Length) : immediateLength;
        bool final = unsolicitedEnd <= immediateLength;
        var command = InitiatorPdu.ScsiCommand(itt, _initiator.CmdSN++, _initiator.ExpStatSN, TestInitiator.Write16(lba, blocks), (uint)data.Length,
            read: false, write: true, immediateData: immediateLength > 0 ? data[..immediateLength] : null, final: final);
        await SendAsync(Framed("write command", command), malformed: false);

        // The Data-Out plan: the unsolicited burst now, then one burst per R2T as they come.
        int mutateAt = _rng.Next(0, 6);
        string mutation = Pick("itt", "ttt", "offset", "datasn", "overrun", "nofinal", "duplicate", "early", "short");
        int sent = 0;
        bool mutated = false;
        using var cts = new CancellationTokenSource(Deadline);

        async Task<bool> BurstAsync(uint ttt, int offset, int length)
        {
            uint dataSN = 0;
            int end = offset + length;
            while (offset < end)
            {
                int n = Math.Min(segment, end - offset);
                bool last = offset + n == end;
                var pdu = InitiatorPdu.DataOut(itt, ttt, _initiator.ExpStatSN, dataSN++, (uint)offset, data[offset..(offset + n)], last);
                if (!mutated && sent++ == mutateAt)
                {
                    mutated = true;
                    var bad = Mutate(pdu, mutation, data.Length);
                    await SendAsync(Framed($"data-out with a wrong {mutation}", bad));
                    if (mutation is "duplicate" or "itt" or "early")
                    {
                        await SendAsync(Framed("data-out", pdu), malformed: false);
                    }
                    else
                    {
                        return false; // the sequence is broken; the command may never complete
                    }
                }
                else
                {
                    await SendAsync(Framed("data-out", pdu), malformed: false);
                }

                offset += n;
            }

            return true;
        }

        if (mutation == "early" && unsolicitedEnd == immediateLength)
        {
            // Solicited data before any R2T: a TTT the target never gave.
            mutated = true;
            var early = InitiatorPdu.DataOut(itt, (uint)_rng.Next(), _initiator.ExpStatSN, 0, (uint)immediateLength, data[immediateLength..Math.Min(data.Length, immediateLength + 512)], true);
            await SendAsync(Framed("data-out before its R2T", early));
        }

        bool intact = final || await BurstAsync(0xFFFFFFFF, immediateLength, unsolicitedEnd - immediateLength);
        while (intact)
        {
            var pdu = await _initiator.NextAsync(cts.Token);
            if (pdu is null)
            {
                _run.Count("outcome: closed by target");
                return false;
            }

            if (pdu.Opcode == 0x3F && BinaryPrimitives.ReadUInt32BigEndian(pdu.Data.AsSpan(16)) == itt && (pdu.Data[0] & 0x3F) == 0x01)
            {
                // Our command itself was rejected: its ITT is still in use by a fuzzed command (a bit flip can
                // make one), Task in progress (RFC 7143 11.17.1). No response will come.
                Observe(pdu, new FuzzPdu("write", [], Framing.Framed));
                _run.Count("write: rejected");
                break;
            }

            if (pdu.Itt != itt)
            {
                bool wasHeld = _mayBeHeld.Contains(pdu.Itt);
                Observe(pdu, new FuzzPdu("write", [], Framing.Framed));
                if (wasHeld && pdu.Opcode is 0x22 or 0x26)
                {
                    // A Task Management request or a Logout held ahead of a gap our write filled has now been
                    // processed, after our write (RFC 7143 3.2.2.1): it may have aborted the write (a reset, an
                    // abort of the task set) or be ending the connection, and an aborted task gets no response
                    // (RFC 7143 11.5.1). Stop waiting for one; the ping below still checks the target.
                    _run.Count("write: outcome unknown after a held control request");
                    break;
                }

                continue;
            }

            if (pdu.Opcode == 0x31)
            {
                intact = await BurstAsync(pdu.Word(20), (int)pdu.Word(40), (int)pdu.Word(44));
                continue;
            }

            if (pdu.Opcode == 0x21)
            {
                _run.Count(pdu.Header[3] == 0 ? "write: good" : $"write: status 0x{pdu.Header[3]:x2}");
                break;
            }

            throw Fail($"unexpected PDU for write {itt:x8}: {pdu}");
        }

        return await PingOrCloseAsync(new FuzzPdu($"write with a wrong {mutation}", [], Framing.Framed));
    }

    private InitiatorPdu Mutate(InitiatorPdu good, string mutation, int total)
    {
        var bad = InitiatorPdu.DataOut(good.Itt, good[20], good[28], good[36], good[40], good.Data, (good.Flags & 0x80) != 0);
        switch (mutation)
        {
            case "itt":
                bad.Itt = 0x60000000 | (uint)_rng.Next(1 << 20);
                break;
            case "ttt":
                bad[20] = (uint)_rng.Next();
                break;
            case "offset":
                bad[40] = Pick(bad[40] + 512, bad[40] - 1, (uint)total, 0xFFFFFFF0u, (uint)_rng.Next());
                break;
            case "datasn":
                bad[36] = bad[36] + (uint)_rng.Next(1, 5);
                break;
            case "overrun":
                bad.Data = Bytes(Math.Min(_initiator.TargetMaxRecvDataSegmentLength, good.Data.Length + _rng.Next(1, 4096)));
                bad.Seal();
                break;
            case "nofinal":
                bad.Flags = 0;
                break;
            case "short":
                bad.Data = good.Data[..(good.Data.Length / 2)];
                bad.Seal();
                break;
        }

        return bad;
    }

    private FuzzPdu DataOutForNothing()
    {
        uint itt = _rng.Next(3) switch
        {
            0 when _liveItts.Count > 0 => _liveItts[_rng.Next(_liveItts.Count)],
            1 => 0xFFFFFFFF,
            _ => 0x70000000 | (uint)_rng.Next(1 << 24),
        };
        uint ttt = _r2ts.TryGetValue(itt, out var r2t) && _rng.Next(2) == 0 ? r2t.Ttt : Pick(0xFFFFFFFF, 0u, (uint)_rng.Next());
        uint offset = _r2ts.TryGetValue(itt, out r2t) ? r2t.Offset : (uint)_rng.Next(1 << 20);
        int length = Math.Min(_initiator.TargetMaxRecvDataSegmentLength, _rng.Next(0, 16384));
        var pdu = InitiatorPdu.DataOut(itt, ttt, _initiator.ExpStatSN, (uint)_rng.Next(3), offset, Bytes(length), _rng.Next(2) == 0);
        return Framed("data-out for an unknown or wrong task", pdu);
    }

    private FuzzPdu ControlPdu()
    {
        bool immediate = _rng.Next(2) == 0;
        var (cmdSN, _) = CmdSN(immediate);
        switch (_rng.Next(7))
        {
            case 0:
                {
                    // A ping with odd fields: TTT set (as if answering a ping never sent), data up to the limit.
                    uint itt = Pick(Itt(), 0xFFFFFFFF);
                    var pdu = InitiatorPdu.NopOut(itt, Pick(0xFFFFFFFF, (uint)_rng.Next()), cmdSN, _initiator.ExpStatSN, Bytes(_rng.Next(0, _initiator.TargetMaxRecvDataSegmentLength + 1)), immediate);
                    pdu.Lun = _rng.Next(4) == 0 ? RandomLun() : 0;
                    return Framed("nop-out", pdu);
                }

            case 1:
            case 2:
                return Framed("text request", InitiatorPdu.TextRequest(Itt(), cmdSN, _initiator.ExpStatSN, TextKeys(_initiator.TargetMaxRecvDataSegmentLength), immediate, _rng.Next(4) != 0));
            case 3:
            case 4:
                {
                    // Every function, including reserved ones; references to live, dead and reserved tags.
                    byte function = (byte)(_rng.Next(3) == 0 ? _rng.Next(128) : _rng.Next(1, 9));
                    if (function == 7 && _rng.Next(4) != 0)
                    {
                        function = 1; // TARGET COLD RESET ends the connection: keep it rarer
                    }

                    uint referenced = _liveItts.Count > 0 && _rng.Next(2) == 0 ? _liveItts[_rng.Next(_liveItts.Count)] : Pick(0xFFFFFFFF, (uint)_rng.Next());
                    uint refCmdSN = Pick(_initiator.CmdSN, _initiator.CmdSN - 1, _initiator.CmdSN + 5, (uint)_rng.Next());
                    var pdu = InitiatorPdu.TaskManagement(Itt(), cmdSN, _initiator.ExpStatSN, function, referenced, refCmdSN, immediate, _rng.Next(5) == 0 ? RandomLun() : 0);
                    if (_rng.Next(10) == 0)
                    {
                        pdu.Flags = (byte)(function & 0x7F); // F bit clear: reserved
                    }

                    return Framed($"task management {function}", pdu);
                }

            case 5:
                {
                    // Logout with a reason the RFC does not define, or another connection's CID.
                    byte reason = (byte)_rng.Next(3, 128);
                    return Framed($"logout reason {reason}", InitiatorPdu.Logout(Itt(), cmdSN, _initiator.ExpStatSN, reason, (ushort)_rng.Next(65536), immediate));
                }

            default:
                {
                    // SNACK: needs ERL > 0, which we never negotiate (RFC 7143 11.16).
                    // (Its CmdSN field is reserved: give back the one taken above.)
                    if (!immediate && cmdSN + 1 == _initiator.CmdSN)
                    {
                        _initiator.CmdSN--;
                    }

                    var pdu = InitiatorPdu.Snack(Itt(), (uint)_rng.Next(), _initiator.ExpStatSN, (byte)_rng.Next(16), (uint)_rng.Next(), (uint)_rng.Next());
                    return Framed("snack", pdu);
                }
        }
    }

    /// <summary>A non-immediate NOP-Out with CmdSN beyond MaxCmdSN (or behind ExpCmdSN): RFC 7143 3.2.2.1 says
    /// it is silently ignored, so the ping after it must be answered and this one never.</summary>
    private FuzzPdu OutOfWindow()
    {
        uint itt = _silentNext++;
        _silentItts.Add(itt);
        // Beyond any MaxCmdSN the target can have advertised (ExpCmdSN <= our CmdSN, window <= 128 here), or behind
        // the last ExpCmdSN we saw.
        uint cmdSN = _rng.Next(2) == 0 ? _initiator.CmdSN + 1000 + (uint)_rng.Next(1 << 20) : _initiator.ExpCmdSN - 1 - (uint)_rng.Next(1000);
        if (_rng.Next(2) == 0)
        {
            return Framed("out-of-window nop-out", InitiatorPdu.NopOut(itt, 0xFFFFFFFF, cmdSN, _initiator.ExpStatSN, Bytes(_rng.Next(64)), immediate: false), itt);
        }

        var cmd = InitiatorPdu.ScsiCommand(itt, cmdSN, _initiator.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false);
        return Framed("out-of-window scsi command", cmd, itt);
    }

    private FuzzPdu BitFlipped(bool inStep)
    {
        var source = AnyFullFeaturePdu();
        var bytes = (byte[])source.Bytes.Clone();
        int flips = _rng.Next(1, 9);
        int span = _rng.Next(4) == 0 ? bytes.Length : Math.Min(48, bytes.Length);
        for (int i = 0; i < flips; i++)
        {
            int bit = _rng.Next(span * 8);
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
        }

        return Reframe($"bit flips of {source.What}", bytes, inStep);
    }

    /// <summary>Decides what the target may do with these bytes, from the header it will read: it closes on a
    /// data segment above its limit; when the rest of the bytes do not match the header, the bytes are cut or
    /// padded to match half the time (the stream stays in step), and left as they are otherwise.</summary>
    private FuzzPdu Reframe(string what, byte[] bytes, bool inStep = false)
    {
        int dsl = (bytes[5] << 16) | (bytes[6] << 8) | bytes[7];
        int hd = _initiator.HeaderDigest ? 4 : 0;
        int dd = _initiator.DataDigest && dsl > 0 ? 4 : 0;
        int expected = 48 + (bytes[4] * 4) + hd + ((dsl + 3) & ~3) + dd;
        if (dsl > _initiator.TargetMaxRecvDataSegmentLength)
        {
            // The whole header (BHS, AHS, digest) so the target reads the length; nothing after it.
            int header = 48 + (bytes[4] * 4) + hd;
            var cut = new byte[header];
            bytes.AsSpan(0, Math.Min(bytes.Length, header)).CopyTo(cut);
            return new FuzzPdu(what, cut, Framing.MustClose);
        }

        if (expected == bytes.Length)
        {
            return new FuzzPdu(what, bytes, Framing.Framed);
        }

        if (!inStep && _rng.Next(2) == 0)
        {
            return new FuzzPdu(what + " (lengths lie)", bytes, Framing.Unframed);
        }

        var fixedUp = new byte[expected];
        bytes.AsSpan(0, Math.Min(expected, bytes.Length)).CopyTo(fixedUp);
        return new FuzzPdu(what + " (reframed)", fixedUp, Framing.Framed);
    }

    private FuzzPdu LyingLength()
    {
        var source = AnyFullFeaturePdu();
        var bytes = (byte[])source.Bytes.Clone();
        switch (_rng.Next(2))
        {
            case 0:
                {
                    int dsl = _rng.Next(0, _initiator.TargetMaxRecvDataSegmentLength + 1);
                    bytes[5] = (byte)(dsl >> 16);
                    bytes[6] = (byte)(dsl >> 8);
                    bytes[7] = (byte)dsl;
                    if (_initiator.HeaderDigest)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(48 + (bytes[4] * 4)), TestCrc32C.Compute(bytes.AsSpan(0, 48 + (bytes[4] * 4))));
                    }

                    return Reframe("DataSegmentLength lying", bytes) with { Framing = Framing.Unframed };
                }

            default:
                bytes[4] = (byte)_rng.Next(1, 256);
                return new FuzzPdu("TotalAHSLength lying", bytes, Framing.Unframed);
        }
    }

    /// <summary>An AHS that is there but malformed: an extended-CDB AHS whose length runs past the AHS, or any
    /// other type and bytes (RFC 7143 11.2.2).</summary>
    private FuzzPdu MalformedAhs()
    {
        var pdu = InitiatorPdu.ScsiCommand(Itt(), _initiator.CmdSN++, _initiator.ExpStatSN, TestInitiator.Read16(0, 1), 512, true, false);
        var ahs = Bytes(4 * _rng.Next(1, 64));
        if (_rng.Next(2) == 0)
        {
            ahs[2] = 1;
        }

        pdu.Ahs = ahs;
        pdu.Seal();
        return Framed("malformed AHS", pdu);
    }

    private FuzzPdu Truncated(FuzzPdu source)
    {
        int cut = _rng.Next(1, Math.Max(2, source.Bytes.Length));
        return new FuzzPdu($"truncated {source.What}", source.Bytes[..cut], Framing.Unframed);
    }

    private FuzzPdu Soup() => new("byte soup", Bytes(_rng.Next(1, 3000)), Framing.Unframed);

    private FuzzPdu TooLong()
    {
        var source = AnyFullFeaturePdu();
        var bytes = (byte[])source.Bytes.Clone();
        int dsl = _rng.Next(_initiator.TargetMaxRecvDataSegmentLength + 1, 1 << 24);
        bytes[5] = (byte)(dsl >> 16);
        bytes[6] = (byte)(dsl >> 8);
        bytes[7] = (byte)dsl;
        if (_initiator.HeaderDigest)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(48 + (bytes[4] * 4)), TestCrc32C.Compute(bytes.AsSpan(0, 48 + (bytes[4] * 4))));
        }

        // RFC 7143 7.2 / our MaxRecvDataSegmentLength: the target cannot take it and must close.
        return new FuzzPdu($"DataSegmentLength {dsl} above MaxRecvDataSegmentLength", bytes[..(48 + (bytes[4] * 4) + (_initiator.HeaderDigest ? 4 : 0))], Framing.MustClose);
    }

    /// <summary>A wrong digest: header digest errors end the connection at ERL 0 (RFC 7143 7.8); a data digest
    /// error is a Reject or a close. Without negotiated digests, sending one anyway is 4 stray bytes.</summary>
    private FuzzPdu BadDigest()
    {
        var pdu = InitiatorPdu.NopOut(_initiator.NextItt(), 0xFFFFFFFF, _initiator.CmdSN, _initiator.ExpStatSN, Bytes(_rng.Next(1, 2048)));
        if (!_initiator.HeaderDigest && !_initiator.DataDigest)
        {
            var withDigests = pdu.Serialize(headerDigest: true, dataDigest: false);
            return new FuzzPdu("header digest that was not negotiated", withDigests, Framing.Unframed);
        }

        var bytes = pdu.Serialize(_initiator.HeaderDigest, _initiator.DataDigest);
        if (_initiator.HeaderDigest && (_rng.Next(2) == 0 || !_initiator.DataDigest))
        {
            bytes[48] ^= (byte)(1 << _rng.Next(8));
            _run.Count("digest: bad header digest sent");
            return new FuzzPdu("bad header digest", bytes, Framing.MustClose);
        }

        bytes[^1] ^= (byte)(1 << _rng.Next(8));
        _run.Count("digest: bad data digest sent");
        return new FuzzPdu("bad data digest", bytes, Framing.Framed);
    }

    private FuzzPdu Reserved()
    {
        byte opcode = _rng.Next(3) == 0 ? (byte)_rng.Next(64) : InterestingOpcodes[_rng.Next(InterestingOpcodes.Length)];
        var pdu = new InitiatorPdu(opcode, _rng.Next(2) == 0);
        _rng.NextBytes(pdu.Header.AsSpan(1));
        pdu.Header[4] = 0;
        pdu.Data = Bytes(_rng.Next(0, Math.Min(4096, _initiator.TargetMaxRecvDataSegmentLength)));
        pdu.Seal();
        if (opcode == 0x03)
        {
            pdu.Header[0] |= 0x40;
        }

        return Framed($"opcode 0x{opcode:x2} with random fields", pdu);
    }

    private FuzzPdu BrokenText() =>
        Framed("broken text keys", InitiatorPdu.TextRequest(Itt(), _initiator.CmdSN, _initiator.ExpStatSN, TextKeys(_initiator.TargetMaxRecvDataSegmentLength), immediate: true));

    /// <summary>A well-formed PDU of any initiator opcode, for mutation.</summary>
    private FuzzPdu AnyFullFeaturePdu()
    {
        uint itt = _initiator?.NextItt() ?? 1;
        uint cmdSN = _initiator?.CmdSN ?? 0;
        uint expStatSN = _initiator?.ExpStatSN ?? 0;
        var pdu = _rng.Next(8) switch
        {
            0 => InitiatorPdu.ScsiCommand(itt, cmdSN, expStatSN, TestInitiator.Read16(_rng.NextInt64(0, FuzzTarget.BlockCount - 8), 8), 4096, true, false),
            1 => InitiatorPdu.ScsiCommand(itt, cmdSN, expStatSN, TestInitiator.Write16(_rng.NextInt64(0, FuzzTarget.BlockCount - 1), 1), 512, false, true, Bytes(512)),
            2 => InitiatorPdu.DataOut(itt, (uint)_rng.Next(), expStatSN, 0, 0, Bytes(_rng.Next(1, 1024)), true),
            3 => InitiatorPdu.NopOut(itt, 0xFFFFFFFF, cmdSN, expStatSN, Bytes(_rng.Next(0, 300))),
            4 => InitiatorPdu.TextRequest(itt, cmdSN, expStatSN, InitiatorPdu.Keys(("SendTargets", "All"))),
            5 => InitiatorPdu.TaskManagement(itt, cmdSN, expStatSN, (byte)_rng.Next(1, 9), (uint)_rng.Next(), cmdSN),
            6 => InitiatorPdu.Snack(itt, 0xFFFFFFFF, expStatSN, 0, 0, 0),
            _ => InitiatorPdu.Logout(itt, cmdSN, expStatSN, (byte)_rng.Next(3)),
        };
        bool hd = _initiator?.HeaderDigest ?? false;
        bool dd = _initiator?.DataDigest ?? false;
        return new FuzzPdu($"opcode 0x{pdu.Opcode:x2}", pdu.Serialize(hd, dd), Framing.Framed);
    }

    // ---------------- Generators: login ----------------

    private FuzzPdu MutatedLogin(ulong isid, int round)
    {
        var keys = new List<(string, string)>
        {
            ("InitiatorName", "iqn.2026-11.io.strata.test:login-fuzz"),
            ("TargetName", Pick(FuzzTarget.FuzzedName, FuzzTarget.FuzzedName, "iqn.2026-11.io.strata:nope", "", new string('t', _rng.Next(300, 4000)))),
            ("SessionType", Pick("Normal", "Normal", "Discovery", "Bogus", "")),
            ("AuthMethod", Pick("None", "CHAP,None", "CHAP", "Bogus")),
        };
        string[] numeric = ["MaxRecvDataSegmentLength", "MaxBurstLength", "FirstBurstLength", "MaxOutstandingR2T", "DefaultTime2Wait", "DefaultTime2Retain", "MaxConnections", "ErrorRecoveryLevel"];
        int extra = _rng.Next(0, 6);
        for (int i = 0; i < extra; i++)
        {
            keys.Add(_rng.Next(5) switch
            {
                0 => (numeric[_rng.Next(numeric.Length)], Pick("0", "-1", "1", "511", "abc", "", "99999999999", "0x200", "16777216", "2147483647", "-2147483648", "1 2", "512", "1048576")),
                1 => (Pick("HeaderDigest", "DataDigest"), Pick("CRC32C", "None", "CRC32C,None", "Bogus", "", "None,CRC32C")),
                2 => (Pick("InitialR2T", "ImmediateData", "DataPDUInOrder", "DataSequenceInOrder", "IFMarker", "OFMarker"), Pick("Yes", "No", "Maybe", "")),
                3 => (new string('k', _rng.Next(1, 2000)), new string('v', _rng.Next(0, 3000))),
                _ => ("X-com.example." + _rng.Next(), "y"),
            });
        }

        byte[] text = _rng.Next(4) == 0 ? TextKeys(8192) : InitiatorPdu.Keys([.. keys]);
        int csg = _rng.Next(6) == 0 ? _rng.Next(4) : Pick(0, 1);
        int nsg = _rng.Next(6) == 0 ? _rng.Next(4) : Pick(1, 3);
        bool transit = _rng.Next(5) != 0;
        var pdu = InitiatorPdu.Login(
            _rng.Next(10) == 0 && round > 0 ? isid + 1 : isid,
            _rng.Next(10) == 0 ? (ushort)_rng.Next(65536) : (ushort)0,
            (uint)(round + 1),
            (ushort)_rng.Next(3),
            _rng.Next(10) == 0 ? (uint)_rng.Next() : 0u,
            (uint)round,
            csg,
            nsg,
            transit,
            text,
            @continue: _rng.Next(8) == 0);
        if (_rng.Next(8) == 0)
        {
            pdu.Header[2] = (byte)_rng.Next(256); // Version-max
            pdu.Header[3] = (byte)_rng.Next(256); // Version-min
        }

        if (_rng.Next(8) == 0)
        {
            pdu.Header[0] &= 0x3F; // I bit clear: login requests always carry it
        }

        var bytes = pdu.Serialize(false, false);
        return _rng.Next(8) switch
        {
            0 => Reframe("bit-flipped login", FlipHeader(bytes)) is var f && f.Framing == Framing.MustClose ? f with { Framing = Framing.Unframed } : f,
            1 => new FuzzPdu("truncated login", bytes[.._rng.Next(1, bytes.Length)], Framing.Unframed),
            2 => LoginTooLong(bytes),
            _ => new FuzzPdu("mutated login", bytes, Framing.Framed),
        };
    }

    /// <summary>A login data segment above 8192 bytes (RFC 7143 13.12 during login): sent in full, the target
    /// skips it and refuses the login; announced only, the stream is out of step.</summary>
    private FuzzPdu LoginTooLong(byte[] bytes)
    {
        int dsl = _rng.Next(8193, 1 << 24);
        var header = bytes[..48];
        header[5] = (byte)(dsl >> 16);
        header[6] = (byte)(dsl >> 8);
        header[7] = (byte)dsl;
        if (dsl < 70000 && _rng.Next(2) == 0)
        {
            return new FuzzPdu("login with a long data segment", [.. header, .. Bytes((dsl + 3) & ~3)], Framing.Framed);
        }

        return new FuzzPdu("login announcing a long data segment", header, Framing.Unframed);
    }

    private byte[] FlipHeader(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        for (int i = 0, n = _rng.Next(1, 6); i < n; i++)
        {
            int bit = _rng.Next(48 * 8);
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
        }

        return copy;
    }

    /// <summary>Text that breaks the key=value\0 rules (RFC 7143 6.1): no '=', no final NUL, huge keys and values,
    /// non-UTF-8 bytes, empty pairs, NUL soup, duplicates.</summary>
    private byte[] TextKeys(int limit)
    {
        var ms = new MemoryStream();
        int pairs = _rng.Next(1, 12);
        for (int i = 0; i < pairs && ms.Length < limit; i++)
        {
            switch (_rng.Next(9))
            {
                case 0:
                    ms.Write("SendTargets"u8);
                    break;
                case 1:
                    ms.Write(Encoding.UTF8.GetBytes("SendTargets=" + Pick("All", "", FuzzTarget.FuzzedName, "iqn.nope")));
                    break;
                case 2:
                    ms.Write(Encoding.UTF8.GetBytes(new string('K', _rng.Next(1, limit)) + "=x"));
                    break;
                case 3:
                    ms.Write(Encoding.UTF8.GetBytes("MaxRecvDataSegmentLength=" + new string('9', _rng.Next(1, 2000))));
                    break;
                case 4:
                    ms.Write(Bytes(_rng.Next(1, 300))); // not UTF-8, NULs anywhere
                    break;
                case 5:
                    ms.Write([0xC3, 0x28, 0x3D, 0xFF, 0xFE]); // invalid UTF-8 around '='
                    break;
                case 6:
                    ms.Write("==="u8);
                    break;
                case 7:
                    ms.Write(Encoding.UTF8.GetBytes(Pick("HeaderDigest", "MaxBurstLength", "X-a", "TargetAlias") + "=" + new string('v', _rng.Next(0, limit))));
                    break;
                default:
                    break; // an empty pair: "\0\0"
            }

            if (_rng.Next(6) != 0)
            {
                ms.WriteByte(0);
            }
        }

        var text = ms.ToArray();
        return text.Length > limit ? text[..limit] : text;
    }

    // ---------------- Plumbing ----------------

    /// <summary>Sends a PDU; <paramref name="malformed"/> ones count toward the run's budget, the well-formed
    /// PDUs around them (a write's correct Data-Outs, its command) only toward the statistics.</summary>
    private async Task SendAsync(FuzzPdu pdu, bool malformed = true)
    {
        _initiator.Label = pdu.What;
        string what = System.Text.RegularExpressions.Regex.Replace(pdu.What, "[0-9]+", "N");
        if (malformed)
        {
            _run.Sent(what);
        }
        else
        {
            _run.Count("well-formed: " + what);
        }

        using var cts = new CancellationTokenSource(Deadline);
        try
        {
            await _initiator.SendAsync(pdu.Bytes, cts.Token);
        }
        catch (SocketException)
        {
            // The target closed while we sent: that is one of its allowed answers.
        }
        catch (OperationCanceledException)
        {
            throw Fail($"the target stopped reading for {Deadline.TotalSeconds} s while we sent '{pdu.What}'");
        }
    }

    private FuzzFailure Fail(string why)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"fuzz episode {_index} (seed {FuzzSeed.Seed}) failed: {why}");
        sb.AppendLine(FuzzSeed.ReplayHint(_index));
        var full = new StringBuilder();
        foreach (var (what, bytes) in _transcript)
        {
            full.AppendLine($"{what} [{bytes.Length}]: {Convert.ToHexString(bytes)}");
        }

        full.AppendLine("target log:");
        foreach (var line in _target.Lines.TakeLast(200))
        {
            full.AppendLine(line);
        }

        string file = Path.Combine(Path.GetTempPath(), $"strata-fuzz-{FuzzSeed.Seed}-{_index}.hex");
        File.WriteAllText(file, full.ToString());
        sb.AppendLine($"bytes sent, in order (hex; all of them in {file}):");
        foreach (var (what, bytes) in _transcript)
        {
            string hex = Convert.ToHexString(bytes.AsSpan(0, Math.Min(bytes.Length, 256)));
            sb.AppendLine($"  {what} [{bytes.Length}]: {hex}{(bytes.Length > 256 ? "..." : string.Empty)}");
        }

        var lines = _target.Failures();
        if (lines.Length > 0)
        {
            sb.AppendLine("target failures:").AppendLine(string.Join('\n', lines.Take(5)));
        }

        return new FuzzFailure(sb.ToString());
    }

    private byte[] Bytes(int length)
    {
        var b = new byte[length];
        _rng.NextBytes(b);
        return b;
    }

    private T Pick<T>(params T[] choices) => choices[_rng.Next(choices.Length)];
}
