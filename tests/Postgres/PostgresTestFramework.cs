using System.Reflection;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("JP1Dist.Tests.PostgresTestFramework", "JP1Dist.Tests")]

namespace JP1Dist.Tests;

/// <summary>
/// xunit as usual, except that where no PostgreSQL server can be had (the packages cannot be installed, the server does
/// not start) every test of the PostgreSQL run is reported skipped with the reason, instead of each failing alone.
/// </summary>
public sealed class PostgresTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName assemblyName, ISourceInformationProvider sourceInformationProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkExecutor(assemblyName, sourceInformationProvider, diagnosticMessageSink)
    {
        protected override void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        {
            if (TestDatabase.PostgresUnavailable() is { } reason)
            {
                testCases = testCases.Select(t => (IXunitTestCase)new XunitSkippedDataRowTestCase(DiagnosticMessageSink, TestMethodDisplay.ClassAndMethod,
                    TestMethodDisplayOptions.None, t.TestMethod, "No PostgreSQL for this run: " + reason, t.TestMethodArguments)).ToList();
            }
            base.RunTestCases(testCases, executionMessageSink, executionOptions);
        }
    }
}
