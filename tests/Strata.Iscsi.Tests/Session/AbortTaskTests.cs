using Strata.Iscsi.Tests.Fuzz;
using Xunit.Abstractions;

namespace Strata.Iscsi.Tests.Session;

/// <summary>
/// ABORT TASK racing the command's completion (RFC 7143 11.5.1, 11.6.1): "function complete" means the task was
/// aborted and its own response never comes; a command that completed first gets its response and the abort gets
/// "task does not exist". Never both: libiscsi's iSCSITMF.AbortTaskSimpleAsync saw GOOD and "function complete"
/// for the same command about 1 run in 10, when the command finished between the target's lookup of the task and
/// its marking it aborted.
/// </summary>
public sealed class AbortTaskTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_aborted_task_gets_no_response_and_a_completed_one_is_not_reported_aborted()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await using var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, ImmediateData = true, InitialR2T = true }, cts.Token))!.Header[36]);
        Assert.NotNull(await a.CommandAsync(TestInitiator.Read16(0, 1), 512, null, cts.Token)); // the POWER ON unit attention

        // Each round: a one-block WRITE carrying its data (it executes at once) and, in the same segment, an
        // ABORT TASK for it, so the abort meets the command anywhere from before execution to after completion.
        const int rounds = 6000;
        const int batch = 16;
        int complete = 0, gone = 0;
        var data = new byte[512];
        for (int start = 0; start < rounds; start += batch)
        {
            var bytes = new List<byte>();
            var commands = new Dictionary<uint, uint>(); // command ITT -> its TMF's ITT
            for (int i = 0; i < batch; i++)
            {
                uint itt = a.NextItt();
                uint tmf = a.NextItt();
                uint cmdSN = a.CmdSN++;
                bytes.AddRange(InitiatorPdu.ScsiCommand(itt, cmdSN, a.ExpStatSN, TestInitiator.Write16(start + i, 1), 512, read: false, write: true, data).Serialize(false, false));
                bytes.AddRange(InitiatorPdu.TaskManagement(tmf, a.CmdSN, a.ExpStatSN, 1, itt, cmdSN).Serialize(false, false));
                commands[itt] = tmf;
            }

            await a.SendAsync(bytes.ToArray(), cts.Token);
            var answers = new Dictionary<uint, TargetPdu>();
            while (answers.Count < commands.Count * 2)
            {
                var pdu = await a.NextAsync(cts.Token);
                Assert.True(pdu is not null, $"the target closed the connection; its log: {string.Join(" | ", target.Lines.TakeLast(5))}");
                if (pdu.Opcode is 0x21 or 0x22)
                {
                    answers[pdu.Itt] = pdu;
                }

                // An aborted command's answer never comes: count its abort's answer for it too.
                foreach (var (itt, tmf) in commands)
                {
                    if (pdu.Opcode == 0x22 && pdu.Itt == tmf && pdu.Header[2] == 0)
                    {
                        answers.TryAdd(itt, pdu);
                    }
                }
            }

            foreach (var (itt, tmf) in commands)
            {
                var abort = answers[tmf];
                bool responded = answers[itt].Opcode == 0x21;
                switch (abort.Header[2])
                {
                    case 0: // function complete: the command must not have answered
                        Assert.False(responded, $"ITT {itt:x8}: ABORT TASK answered 'function complete' and the command answered too: {answers[itt]}");
                        complete++;
                        break;
                    case 1: // task does not exist: it completed first, and its response came
                        Assert.True(responded, $"ITT {itt:x8}: ABORT TASK answered 'task does not exist' but the command never answered");
                        gone++;
                        break;
                    default:
                        Assert.Fail($"ITT {itt:x8}: ABORT TASK answered {abort.Header[2]}");
                        break;
                }
            }

            // Commands that answered or were aborted leave the window; the next batch goes on from ExpCmdSN.
            Assert.NotNull(await a.PingAsync(cts.Token));
            a.CmdSN = a.ExpCmdSN;
        }

        output.WriteLine($"{complete} aborted before completing, {gone} completed before the abort");
        Assert.Empty(target.Failures());
    }
}
