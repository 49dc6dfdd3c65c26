using System.Globalization;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Tests;

/// <summary>Shape of the committed spark-bounded suite (its programs are proven by datasets/spark-bounded/verify.py and `datasets check`).</summary>
public class SparkBoundedSuiteTests
{
    private static readonly TaskSuite Suite = TaskSuiteLoader.Load(Path.Combine(TestPaths.RepoRoot, "datasets", "spark-bounded"));

    [Fact]
    public void Load_SparkBounded_HasFourTasksPerKindAndLanguage()
    {
        var cells = Suite.Tasks.GroupBy(t => (t.Kind, t.Language)).ToDictionary(g => g.Key, g => g.Count());
        foreach (var kind in Enum.GetValues<TaskKind>())
        {
            foreach (var language in new[] { "csharp", "python", "typescript" })
            {
                Assert.True(cells.GetValueOrDefault((kind, language)) >= 4, $"{kind} × {language}");
            }
        }

        Assert.True(Suite.Tasks.Count >= 60, Suite.Tasks.Count.ToString(CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Load_SparkBounded_EveryTaskHasTheFieldsItsKindNeeds()
    {
        Assert.All(Suite.Tasks, t =>
        {
            Assert.True(t.Mutants.Count >= 2, t.Id);
            Assert.NotEmpty(t.Tags);
            Assert.DoesNotContain(t.Mutants, m => m == t.ReferenceSolution);
            Assert.All(t.StopTokens, s => Assert.DoesNotContain(s, t.ReferenceSolution, StringComparison.Ordinal));
            if (t.Kind is not TaskKind.Stub)
            {
                Assert.NotEmpty(t.ContextFiles);
            }

            switch (t.Kind)
            {
                case TaskKind.Refactor:
                    Assert.False(string.IsNullOrWhiteSpace(t.StructureRule), t.Id);
                    break;
                case TaskKind.Fix:
                    Assert.False(string.IsNullOrWhiteSpace(t.FailingOutput), t.Id);
                    break;
                case TaskKind.UnitTests:
                    Assert.False(string.IsNullOrWhiteSpace(t.SupportCode), t.Id);
                    break;
                case TaskKind.Explain:
                    Assert.NotNull(t.Rubric);
                    Assert.NotEmpty(t.Rubric.RequiredConcepts);
                    break;
                default:
                    Assert.False(string.IsNullOrWhiteSpace(t.HiddenChecks), t.Id);
                    break;
            }
        });
    }

    [Fact]
    public void Rubric_SparkBoundedExplainTasks_ReferencePassesAndEveryMutantFails()
    {
        // The rubric rule of docs/grading.md: words <= maxWords, each concept by a phrasing, no wrong claim (case-insensitive substrings).
        static bool Satisfies(string text, ExplanationRubric rubric) =>
            text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length <= rubric.MaxWords
            && rubric.RequiredConcepts.All(c => c.Phrasings.Any(p => text.Contains(p, StringComparison.OrdinalIgnoreCase)))
            && !rubric.WrongClaims.Any(w => text.Contains(w, StringComparison.OrdinalIgnoreCase));

        var explain = Suite.Tasks.Where(t => t.Kind == TaskKind.Explain).ToList();
        Assert.NotEmpty(explain);
        Assert.All(explain, t =>
        {
            Assert.True(Satisfies(t.ReferenceSolution, t.Rubric!), t.Id + " reference");
            Assert.All(t.Mutants, m => Assert.False(Satisfies(m, t.Rubric!), t.Id + " mutant: " + m));
        });
    }
}
