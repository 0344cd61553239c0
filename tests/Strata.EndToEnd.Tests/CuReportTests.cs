using Strata.EndToEnd.Tests.Harness;
using Xunit;

namespace Strata.EndToEnd.Tests;

/// <summary>The parser of iscsi-test-cu's output, on lines copied from real runs (tgt and Strata).</summary>
public sealed class CuReportTests
{
    private const string Sample = """


     CUnit - A unit testing framework for C - Version 2.1-3
     http://cunit.sourceforge.net/


Suite: CompareAndWrite
  Test: Simple ...    [SKIPPED] COMPAREANDWRITE is not implemented.
    [SKIPPED] COMPAREANDWRITE is not implemented.
passed
Suite: Read16
  Test: DpoFua ...    [FAILED] READ16 successful but should have failed with ILLEGAL_REQUEST(0x05)/INVALID_FIELD_IN_CDB(0x2400)
FAILED
    1. test_read16_dpofua.c:65  - CU_ASSERT_EQUAL(_r,0)
    2. test_read16_dpofua.c:83  - CU_ASSERT_EQUAL(_r,0)    [SKIPPED] PERSISTENT RESERVE IN is not implemented.
    [SKIPPED] PERSISTENT RESERVE IN is not implemented.

Suite: ReadCapacity10
  Test: Simple ...passed    [SKIPPED] PERSISTENT RESERVE IN is not implemented.
Suite: PreventAllow
  Test: Eject ...    [SKIPPED] Logical unit is not removable. Skipping test.
passed
  Test: WriteSame ...    [SKIPPED] Some reason nobody has seen.
passed
  Test: Hangs ...
Run Summary:    Type  Total    Ran Passed Failed Inactive
              suites      4      4    n/a      0        0
               tests      6      6      5      1        0
             asserts  17323  17323  17249     74      n/a

Elapsed time =    4.708 seconds
""";

    [Fact]
    public void Parses_results_skips_failures_cleanups_and_the_summary()
    {
        var r = CuReport.Parse(Sample, "ALL");

        Assert.Equal(["ALL.CompareAndWrite.Simple", "ALL.Read16.DpoFua", "ALL.ReadCapacity10.Simple", "ALL.PreventAllow.Eject",
            "ALL.PreventAllow.WriteSame", "ALL.PreventAllow.Hangs"], r.Tests.Select(t => t.FullName));
        Assert.Equal(["passed", "FAILED", "passed", "passed", "passed", null], r.Tests.Select(t => t.Result));
        Assert.Equal("ALL.PreventAllow.Hangs", r.LastStarted?.FullName);

        var failed = Assert.Single(r.Failed);
        Assert.Equal(["[FAILED] READ16 successful but should have failed with ILLEGAL_REQUEST(0x05)/INVALID_FIELD_IN_CDB(0x2400)",
            "test_read16_dpofua.c:65: CU_ASSERT_EQUAL(_r,0)", "test_read16_dpofua.c:83: CU_ASSERT_EQUAL(_r,0)"], failed.Messages);

        var skips = r.Skips.ToList();
        Assert.Contains(skips, s => s is { Test: "ALL.CompareAndWrite.Simple", Kind: SkipKind.TargetLacks });
        Assert.Contains(skips, s => s is { Test: "ALL.PreventAllow.Eject", Kind: SkipKind.Environment });
        Assert.Contains(skips, s => s is { Test: "ALL.PreventAllow.WriteSame", Kind: SkipKind.Unknown });
        Assert.Contains(skips, s => s is { Test: "ALL.Read16 (cleanup)", Reason: "PERSISTENT RESERVE IN is not implemented.", Kind: SkipKind.TargetLacks });
        Assert.Contains(skips, s => s is { Test: "ALL.ReadCapacity10 (cleanup)", Kind: SkipKind.TargetLacks });
        Assert.Single(r.Tests[0].Skips.Distinct());

        Assert.Equal(new CuSummaryRow("tests", 6, 6, 5, 1, 0), r.Summary["tests"]);
        Assert.Equal(new CuSummaryRow("asserts", 17323, 17323, 17249, 74, null), r.Summary["asserts"]);
        Assert.Equal(new CuSummaryRow("suites", 4, 4, null, 0, 0), r.Summary["suites"]);
    }
}
