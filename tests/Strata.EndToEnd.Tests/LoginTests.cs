using System.Globalization;
using System.Text.RegularExpressions;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>Discovery, capacity, CHAP and initiator ACLs as libiscsi's command-line tools see them.</summary>
public sealed partial class LoginTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("login");

    public void Dispose() => _scratch.Dispose();

    public static TheoryData<string, int> TargetsAndBlockSizes => new()
    {
        { Targets.Strata, 512 }, { Targets.Strata, 4096 }, { Targets.Tgt, 512 }, { Targets.Tgt, 4096 },
    };

    [Theory]
    [MemberData(nameof(TargetsAndBlockSizes))]
    public async Task Discovery_lists_the_target_and_the_capacity_is_exact(string kind, int blockSize)
    {
        const long size = 1L << 30;
        await using var target = await TargetExtensions.StartAsync(kind,
            new TargetOptions { File = _scratch.File($"disc-{blockSize}.img"), SizeBytes = size, BlockSize = blockSize }, _log);

        var ls = await Tool.RunCheckedAsync("iscsi-ls", ["-s", $"iscsi://{target.Portal()}"], s_toolTimeout, log: _log);
        Assert.Contains($"Target:{target.Iqn} Portal:{target.Portal()},1", ls.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex($@"^Lun:{target.Lun}\s+Type:DIRECT_ACCESS", RegexOptions.Multiline), ls.Stdout);

        var rc16 = await Tool.RunCheckedAsync("iscsi-readcapacity16", [target.Url()], s_toolTimeout, log: _log);
        Assert.Equal((size / blockSize - 1).ToString(CultureInfo.InvariantCulture), Field(rc16.Stdout, "RETURNED LOGICAL BLOCK ADDRESS"));
        Assert.Equal(blockSize.ToString(CultureInfo.InvariantCulture), Field(rc16.Stdout, "LOGICAL BLOCK LENGTH IN BYTES"));
        Assert.Equal(size.ToString(CultureInfo.InvariantCulture), Field(rc16.Stdout, "Total size"));
        // Thin provisioning: UNMAP is supported (LBPME) and unmapped blocks read as zeros (LBPRZ).
        var lbp = Regex.Match(rc16.Stdout, @"^LBPME:(\d) LBPRZ:(\d)", RegexOptions.Multiline);
        Assert.True(lbp.Success && lbp.Groups[1].Value == "1" && lbp.Groups[2].Value == "1",
            $"READ CAPACITY (16) must report a thin LUN (LBPME=1) whose unmapped blocks read as zeros (LBPRZ=1):\n{rc16.Stdout}");

        var inq = await Tool.RunCheckedAsync("iscsi-inq", [target.Url()], s_toolTimeout, log: _log);
        Assert.Equal("DIRECT_ACCESS", Field(inq.Stdout, "Peripheral Device Type"));
        Assert.Equal("0", Field(inq.Stdout, "Removable"));
    }

    [Theory]
    [MemberData(nameof(Targets.Both), MemberType = typeof(Targets))]
    public async Task Chap_admits_the_right_secret_only_and_mutual_chap_checks_the_target(string kind)
    {
        var chap = new Chap("e2e-initiator", "initiator-secret-16");
        var mutual = new Chap("e2e-target", "target-secret-1234");
        await using var target = await TargetExtensions.StartAsync(kind,
            new TargetOptions { File = _scratch.File("chap.img"), SizeBytes = 64L << 20, Chap = chap, MutualChap = mutual }, _log);

        await AssertLoginRefusedAsync(target.Url(), "Authentication failure(513)", "no credentials");
        await AssertLoginRefusedAsync(target.Url(chap with { Secret = "wrong-secret-1234" }, mutual), "Authentication failure(513)", "a wrong secret");
        await AssertLoginRefusedAsync(target.Url(chap with { User = "someone-else" }, mutual), "Authentication failure(513)", "an unknown user");
        await AssertLoginRefusedAsync(target.Url(chap, mutual with { Secret = "not-the-target-12" }), "Invalid CHAP_R response from the target",
            "the initiator expecting another target secret (mutual CHAP)");

        foreach (string url in new[] { target.Url(chap), target.Url(chap, mutual) })
        {
            var inq = await Tool.RunCheckedAsync("iscsi-inq", [url], s_toolTimeout, log: _log);
            Assert.Equal("DIRECT_ACCESS", Field(inq.Stdout, "Peripheral Device Type"));
        }
    }

    [Theory]
    [MemberData(nameof(Targets.Both), MemberType = typeof(Targets))]
    public async Task Only_allowed_initiators_log_in(string kind)
    {
        const string allowed = "iqn.2026-11.io.strata:e2e-allowed";
        await using var target = await TargetExtensions.StartAsync(kind,
            new TargetOptions { File = _scratch.File("acl.img"), SizeBytes = 64L << 20, AllowInitiators = [allowed] }, _log);

        var ok = await Tool.RunCheckedAsync("iscsi-inq", ["-i", allowed, target.Url()], s_toolTimeout, log: _log);
        Assert.Equal("DIRECT_ACCESS", Field(ok.Stdout, "Peripheral Device Type"));

        var denied = await Tool.RunAsync("iscsi-inq", ["-i", "iqn.2026-11.io.strata:e2e-stranger", target.Url()], s_toolTimeout, log: _log);
        Assert.False(denied.Succeeded, "a stranger logged in:\n" + denied.Describe());
        // RFC 7143 11.13.5: 0x0202 Authorization failure, or 0x0203 Not found (tgt hides the target). Both are initiator errors.
        var status = LoginStatus().Match(denied.Stderr + denied.Stdout);
        Assert.True(status.Success, "no login status in the refusal:\n" + denied.Describe());
        _log($"{kind} refuses a stranger with login status {status.Value}");
        Assert.Contains(int.Parse(status.Groups[1].Value, CultureInfo.InvariantCulture), new[] { 0x0202, 0x0203 });
    }

    private async Task AssertLoginRefusedAsync(string url, string expected, string what)
    {
        var r = await Tool.RunAsync("iscsi-inq", [url], s_toolTimeout, log: _log);
        Assert.False(r.Succeeded, $"login with {what} succeeded:\n{r.Describe()}");
        Assert.True((r.Stderr + r.Stdout).Contains(expected, StringComparison.Ordinal),
            $"login with {what} failed, but not with \"{expected}\":\n{r.Describe()}");
    }

    [GeneratedRegex(@"Status: [^(\n]*\((\d+)\)")]
    private static partial Regex LoginStatus();

    private static string Field(string text, string name)
    {
        var m = Regex.Match(text, "^" + Regex.Escape(name) + @":\s*(.*?)\s*$", RegexOptions.Multiline);
        Assert.True(m.Success, $"no \"{name}:\" in:\n{text}");
        return m.Groups[1].Value;
    }
}
