using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace JP1Dist.AgentHost.Scripting;

/// <summary>Runs a PowerShell script in the real engine, in-process, with the JP1Dist module imported.</summary>
internal static class ScriptRunner
{
    /// <summary>The module manifest beside this executable (out/JP1Dist next to out/jp1dist), or JP1DIST_MODULE_PATH.</summary>
    public static string FindModule()
    {
        var configured = Environment.GetEnvironmentVariable("JP1DIST_MODULE_PATH");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        var candidates = new[]
        {
            Path.Combine(AppContext.BaseDirectory, "..", "JP1Dist", "JP1Dist.psd1"),
            Path.Combine(AppContext.BaseDirectory, "JP1Dist", "JP1Dist.psd1"),
        };
        return Path.GetFullPath(candidates.FirstOrDefault(File.Exists) ?? candidates[0]);
    }

    /// <summary>Defines the Utility stand-ins that the session lacks (the hosted engine ships only the Core module).</summary>
    private static void AddUtilityStandIns(InitialSessionState state)
    {
        using var stream = typeof(ScriptRunner).Assembly.GetManifestResourceStream("UtilityStandIns.ps1")!;
        using var reader = new StreamReader(stream);
        var script = ScriptBlock.Create(reader.ReadToEnd());
        foreach (var function in script.Ast.FindAll(a => a is System.Management.Automation.Language.FunctionDefinitionAst, searchNestedScriptBlocks: false)
                     .Cast<System.Management.Automation.Language.FunctionDefinitionAst>())
        {
            if (state.Commands[function.Name].Count == 0)
            {
                state.Commands.Add(new SessionStateFunctionEntry(function.Name, function.Body.Extent.Text.Trim()[1..^1]));
            }
        }
    }

    /// <summary>
    /// Passes command-line words to the script as pwsh -File would: "-Name value" binds a parameter, "-Switch"
    /// followed by another "-Name" or by nothing is a switch, anything else is positional.
    /// </summary>
    private static void AddScriptArguments(PowerShell shell, IReadOnlyList<string> words)
    {
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            if (word.Length > 1 && word[0] == '-' && !double.TryParse(word, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                var name = word[1..].TrimEnd(':');
                if (i + 1 < words.Count && !(words[i + 1].Length > 1 && words[i + 1][0] == '-' && !double.TryParse(words[i + 1], System.Globalization.CultureInfo.InvariantCulture, out _)))
                {
                    shell.AddParameter(name, words[++i]);
                }
                else
                {
                    shell.AddParameter(name);
                }
            }
            else
            {
                shell.AddArgument(word);
            }
        }
    }

    public static int Run(string scriptPath, IReadOnlyList<string> scriptArguments, CancellationToken cancellationToken)
    {
        if (!File.Exists(scriptPath))
        {
            Console.Error.WriteLine($"jp1dist run: the script '{scriptPath}' does not exist.");
            return 2;
        }
        var module = FindModule();
        if (!File.Exists(module))
        {
            Console.Error.WriteLine($"jp1dist run: the JP1Dist module was not found at '{module}'; build it with 'dotnet build' or set JP1DIST_MODULE_PATH.");
            return 2;
        }
        var host = new ConsolePSHost();
        var state = InitialSessionState.CreateDefault2();
        if (OperatingSystem.IsWindows())
        {
            state.ExecutionPolicy = Microsoft.PowerShell.ExecutionPolicy.Bypass;
        }
        state.ImportPSModule(module);
        AddUtilityStandIns(state);
        using var runspace = RunspaceFactory.CreateRunspace(host, state);
        runspace.Open();
        if (Console.IsOutputRedirected)
        {
            // Logs and CI read plain text; escape sequences are for terminals.
            using var plain = PowerShell.Create();
            plain.Runspace = runspace;
            plain.AddScript("$PSStyle.OutputRendering = 'PlainText'").Invoke();
        }
        using var shell = PowerShell.Create();
        shell.Runspace = runspace;
        shell.AddCommand(Path.GetFullPath(scriptPath));
        AddScriptArguments(shell, scriptArguments);
        shell.Commands.Commands[0].MergeMyResults(PipelineResultTypes.All, PipelineResultTypes.Output);
        shell.AddCommand("Out-Default");
        using var registration = cancellationToken.Register(() => shell.BeginStop(null, null));
        try
        {
            shell.Invoke();
        }
        catch (PipelineStoppedException)
        {
            return 130;
        }
        catch (RuntimeException e)
        {
            Console.Error.WriteLine(e.ErrorRecord?.ToString() ?? e.Message);
            if (e.ErrorRecord?.InvocationInfo?.PositionMessage is { Length: > 0 } position)
            {
                Console.Error.WriteLine(position);
            }
            return 1;
        }
        if (host.ExitCode is { } exit)
        {
            return exit;
        }
        var last = runspace.SessionStateProxy.GetVariable("LASTEXITCODE");
        if (last is int code && code != 0)
        {
            return code;
        }
        return shell.HadErrors && shell.Streams.Error.Count > 0 ? 1 : 0;
    }
}
