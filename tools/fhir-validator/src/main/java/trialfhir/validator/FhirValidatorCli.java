package trialfhir.validator;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.npm.NpmPackage;

/**
 * Offline command-line front end to the HL7 FHIR validation engine (org.hl7.fhir.validation), driven through
 * HAPI FHIR's {@link FhirInstanceValidator}.
 *
 * <pre>
 * java -jar fhir-validator.jar --fhir-version R4|R5 [options] FILE_OR_DIR...
 * java -jar fhir-validator.jar --fhir-version R4|R5 [options] --serve
 * </pre>
 *
 * <p>One-shot mode prints one JSON document on stdout:
 * {@code {"fhirVersion", "engine", "timing", "results": [{"file", "resourceType", "id", "issues": [{"severity",
 * "location", "message", "messageId", "line", "col"}]}]}}. A directory means every *.json file below it.
 *
 * <p>Serve mode keeps the validator warm: every line read on stdin is a JSON array of paths (or an object
 * {@code {"paths": [...]}}); for each, one line of JSON is written on stdout (the same document as in one-shot
 * mode, compact, or {@code {"error": "..."}} when the request itself was unusable). It ends at end of input.
 *
 * <p>Exit status: 0 when the validator ran (whatever it found), 2 for a usage error, 1 when it could not run.
 *
 * <p>Options: {@code --any-extensions-allowed} turns the engine's "unknown extension" error back into HAPI's
 * default (accepted, hint only); {@code --no-xver} leaves out the cross-version element table (diagnostic: shows
 * what the engine does with {@code http://hl7.org/fhir/5.0/...} extensions when it cannot resolve them);
 * {@code --definitions FILE_OR_DIR} (repeatable) loads StructureDefinition, CodeSystem and ValueSet resources from
 * JSON files (a resource, or a Bundle whose entries hold them; a directory means every *.json below it) into the
 * validation support chain, so instances may use the extensions, profiles and code systems they define. The
 * engine never takes conformance resources from the instance it validates.
 *
 * <p>No terminology server and no package server is used: definitions come from the core packages shipped in
 * {@code hapi-fhir-validation-resources-r4/-r5}; code systems are checked in memory (UCUM, BCP-47, MIME types,
 * ISO 3166/4217 and every CodeSystem in those packages). LOINC and SNOMED CT cannot be checked here.
 *
 * <p>Cross-version extensions ({@code http://hl7.org/fhir/5.0/StructureDefinition/extension-X.y}) are resolved
 * by the engine's own cross-version extension manager, which reads the element table {@code xver-paths-5.0.json}
 * as a "binary"; it comes from the HL7 package {@code hl7.fhir.xver-extensions#0.1.0} (npm registry, CC0),
 * vendored under {@code src/main/resources/trialfhir/packages}.
 */
public final class FhirValidatorCli {

  static final String XVER_PACKAGE = "trialfhir/packages/hl7.fhir.xver-extensions-0.1.0.tgz";
  static final String USAGE =
      "usage: java -jar fhir-validator.jar --fhir-version R4|R5 [--any-extensions-allowed] [--no-xver]"
          + " [--definitions FILE_OR_DIR]... (FILE_OR_DIR... | --serve)";
  /** Resource types taken from --definitions files; anything else in them is ignored. */
  static final Set<String> DEFINITION_TYPES = Set.of("StructureDefinition", "CodeSystem", "ValueSet");

  private FhirValidatorCli() {}

  public static void main(String[] args) {
    // Anything the engine prints must not corrupt the JSON on stdout.
    PrintStream out =
        new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
    System.setOut(System.err);
    int rc;
    try {
      rc = run(args, out);
    } catch (UsageException e) {
      System.err.println("fhir-validator: " + e.getMessage());
      System.err.println(USAGE);
      rc = 2;
    } catch (Throwable e) {
      System.err.println("fhir-validator: could not run: " + e);
      e.printStackTrace(System.err);
      rc = 1;
    }
    out.flush();
    System.exit(rc);
  }

  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  static final class Options {
    String version;
    boolean anyExtensionsAllowed;
    boolean xver = true;
    boolean serve;
    List<String> inputs = new ArrayList<>();
    List<String> definitions = new ArrayList<>();
    /** Filled by buildValidator: one entry per --definitions file, for the report. */
    List<Map<String, Object>> loadedDefinitions = new ArrayList<>();
  }

  static Options parse(String[] args) throws UsageException {
    Options o = new Options();
    String version = null;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--fhir-version")) {
        if (i + 1 >= args.length) {
          throw new UsageException("--fhir-version needs a value");
        }
        version = args[++i];
      } else if (a.startsWith("--fhir-version=")) {
        version = a.substring("--fhir-version=".length());
      } else if (a.equals("--any-extensions-allowed")) {
        o.anyExtensionsAllowed = true;
      } else if (a.equals("--no-xver")) {
        o.xver = false;
      } else if (a.equals("--definitions")) {
        if (i + 1 >= args.length) {
          throw new UsageException("--definitions needs a FILE_OR_DIR");
        }
        o.definitions.add(args[++i]);
      } else if (a.startsWith("--definitions=")) {
        o.definitions.add(a.substring("--definitions=".length()));
      } else if (a.equals("--serve")) {
        o.serve = true;
      } else if (a.equals("-h") || a.equals("--help")) {
        throw new UsageException("help");
      } else if (a.startsWith("--")) {
        throw new UsageException("unknown option " + a);
      } else {
        o.inputs.add(a);
      }
    }
    if (version == null) {
      throw new UsageException("--fhir-version is required");
    }
    String v = version.toUpperCase(Locale.ROOT);
    if (v.equals("R4") || v.equals("4.0") || v.equals("4.0.1")) {
      o.version = "R4";
    } else if (v.equals("R5") || v.equals("5.0") || v.equals("5.0.0")) {
      o.version = "R5";
    } else {
      throw new UsageException("unsupported FHIR version " + version + " (R4 or R5)");
    }
    if (o.serve && !o.inputs.isEmpty()) {
      throw new UsageException("--serve takes its paths on stdin, not as arguments");
    }
    if (!o.serve && o.inputs.isEmpty()) {
      throw new UsageException("no FILE_OR_DIR given");
    }
    return o;
  }

  static int run(String[] args, PrintStream out) throws Exception {
    Options o = parse(args);
    // Fail on bad paths before paying for the validator start-up.
    List<Path> files = o.serve ? List.of() : collectFiles(o.inputs);
    List<Path> definitionFiles = collectFiles(o.definitions);
    if (!o.definitions.isEmpty() && definitionFiles.isEmpty()) {
      throw new UsageException("--definitions: no *.json file in " + String.join(", ", o.definitions));
    }

    long t0 = System.nanoTime();
    FhirContext ctx = o.version.equals("R4") ? FhirContext.forR4() : FhirContext.forR5();
    FhirValidator validator = buildValidator(ctx, o, definitionFiles);
    long setupMs = (System.nanoTime() - t0) / 1_000_000;

    if (!o.serve) {
      Gson gson = new GsonBuilder().serializeNulls().disableHtmlEscaping().setPrettyPrinting().create();
      out.println(gson.toJson(validateAll(validator, o, files, setupMs)));
      return 0;
    }

    Gson gson = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    boolean first = true;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      Map<String, Object> doc;
      try {
        doc = validateAll(validator, o, collectFiles(requestPaths(line)), first ? setupMs : 0);
        first = false;
      } catch (UsageException | IOException | RuntimeException e) {
        doc = new LinkedHashMap<>();
        doc.put("error", e.getMessage() == null ? e.toString() : e.getMessage());
      }
      out.println(gson.toJson(doc));
      out.flush();
    }
    return 0;
  }

  static List<String> requestPaths(String line) throws UsageException {
    JsonElement req;
    try {
      req = JsonParser.parseString(line);
    } catch (RuntimeException e) {
      throw new UsageException("request is not JSON: " + e.getMessage());
    }
    JsonArray arr = null;
    if (req.isJsonArray()) {
      arr = req.getAsJsonArray();
    } else if (req.isJsonObject() && req.getAsJsonObject().has("paths")
        && req.getAsJsonObject().get("paths").isJsonArray()) {
      arr = req.getAsJsonObject().getAsJsonArray("paths");
    }
    if (arr == null) {
      throw new UsageException("request must be a JSON array of paths or {\"paths\": [...]}");
    }
    List<String> paths = new ArrayList<>();
    for (JsonElement e : arr) {
      if (!e.isJsonPrimitive()) {
        throw new UsageException("paths must be strings");
      }
      paths.add(e.getAsString());
    }
    if (paths.isEmpty()) {
      throw new UsageException("no paths in request");
    }
    return paths;
  }

  static Map<String, Object> validateAll(FhirValidator validator, Options o, List<Path> files, long setupMs) {
    long tStart = System.nanoTime();
    List<Map<String, Object>> results = new ArrayList<>();
    Long firstMs = null;
    for (Path file : files) {
      long ts = System.nanoTime();
      results.add(validateFile(validator, file));
      if (firstMs == null) {
        firstMs = (System.nanoTime() - ts) / 1_000_000;
      }
    }
    long tDone = System.nanoTime();

    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("fhirVersion", o.version);
    Map<String, Object> engine = new LinkedHashMap<>();
    engine.put("hapiFhir", ca.uhn.fhir.util.VersionUtil.getVersion());
    engine.put("fhirCore", bundleVersion(org.hl7.fhir.validation.instance.InstanceValidator.class));
    engine.put("anyExtensionsAllowed", o.anyExtensionsAllowed);
    engine.put("crossVersionExtensions", o.xver ? "hl7.fhir.xver-extensions#0.1.0" : null);
    engine.put("definitions", o.loadedDefinitions);
    engine.put("terminologyServer", null);
    doc.put("engine", engine);
    Map<String, Object> timing = new LinkedHashMap<>();
    timing.put("setupMs", setupMs);
    timing.put("firstFileMs", firstMs);
    timing.put("allFilesMs", (tDone - tStart) / 1_000_000);
    timing.put("files", files.size());
    doc.put("timing", timing);
    doc.put("results", results);
    return doc;
  }

  /** The OSGi Bundle-Version of the jar holding {@code cls} (org.hl7.fhir.* jars carry no Implementation-Version). */
  private static String bundleVersion(Class<?> cls) {
    try (InputStream is = cls.getProtectionDomain().getCodeSource().getLocation().openStream();
        java.util.jar.JarInputStream jar = new java.util.jar.JarInputStream(is)) {
      java.util.jar.Manifest mf = jar.getManifest();
      return mf == null ? null : mf.getMainAttributes().getValue("Bundle-Version");
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  static List<Path> collectFiles(List<String> inputs) throws UsageException, IOException {
    List<Path> files = new ArrayList<>();
    for (String in : inputs) {
      Path p = Paths.get(in);
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.walk(p)) {
          files.addAll(s.filter(Files::isRegularFile)
              .filter(f -> f.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".json"))
              .sorted()
              .collect(Collectors.toList()));
        }
      } else if (Files.isRegularFile(p)) {
        files.add(p);
      } else {
        throw new UsageException("no such file or directory: " + in);
      }
    }
    return files;
  }

  static FhirValidator buildValidator(FhirContext ctx, Options o, List<Path> definitionFiles)
      throws IOException, UsageException {
    ValidationSupportChain chain = new ValidationSupportChain();
    chain.addValidationSupport(new DefaultProfileValidationSupport(ctx));
    if (!definitionFiles.isEmpty()) {
      // Before the snapshot generator: a differential-only StructureDefinition gets its snapshot from the chain.
      chain.addValidationSupport(definitions(ctx, definitionFiles, o.loadedDefinitions));
    }
    if (o.xver) {
      chain.addValidationSupport(crossVersionTables(ctx));
    }
    chain.addValidationSupport(new CommonCodeSystemsTerminologyService(ctx));
    chain.addValidationSupport(new InMemoryTerminologyServerValidationSupport(ctx));
    chain.addValidationSupport(new SnapshotGeneratingValidationSupport(ctx));

    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    // HAPI's default accepts any extension it cannot resolve; the engine's own default (and ours) is an error.
    module.setAnyExtensionsAllowed(o.anyExtensionsAllowed);
    module.setErrorForUnknownProfiles(true);
    module.setNoTerminologyChecks(false);
    module.setValidatorPolicyAdvisor(ADVISOR);

    FhirValidator validator = ctx.newValidator();
    validator.setValidateAgainstStandardSchema(false);
    validator.setValidateAgainstStandardSchematron(false);
    validator.registerValidatorModule(module);
    return validator;
  }

  /**
   * The conformance resources (StructureDefinition, CodeSystem, ValueSet) of the given JSON files: each file is one
   * resource or a Bundle whose entries hold them. Other resources are ignored; a file that is not JSON, a
   * definition the FHIR parser rejects, or a file with no definition at all is a usage error (a typo in a path
   * must not silently validate against nothing).
   */
  static PrePopulatedValidationSupport definitions(FhirContext ctx, List<Path> files, List<Map<String, Object>> report)
      throws IOException, UsageException {
    PrePopulatedValidationSupport support = new PrePopulatedValidationSupport(ctx);
    ca.uhn.fhir.parser.IParser parser = ctx.newJsonParser();
    for (Path file : files) {
      JsonElement parsed;
      try {
        parsed = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
      } catch (RuntimeException e) {
        throw new UsageException("--definitions " + file + ": not JSON: " + e.getMessage());
      }
      List<JsonObject> candidates = new ArrayList<>();
      if (parsed.isJsonObject()) {
        JsonObject obj = parsed.getAsJsonObject();
        if ("Bundle".equals(primitive(obj, "resourceType")) && obj.has("entry") && obj.get("entry").isJsonArray()) {
          for (JsonElement entry : obj.getAsJsonArray("entry")) {
            if (entry.isJsonObject() && entry.getAsJsonObject().has("resource")
                && entry.getAsJsonObject().get("resource").isJsonObject()) {
              candidates.add(entry.getAsJsonObject().getAsJsonObject("resource"));
            }
          }
        } else {
          candidates.add(obj);
        }
      }
      Map<String, Integer> counts = new LinkedHashMap<>();
      for (JsonObject candidate : candidates) {
        String type = primitive(candidate, "resourceType");
        if (type == null || !DEFINITION_TYPES.contains(type)) {
          continue;
        }
        IBaseResource resource;
        try {
          resource = parser.parseResource(candidate.toString());
        } catch (RuntimeException e) {
          throw new UsageException("--definitions " + file + ": cannot parse " + type + " "
              + primitive(candidate, "url") + ": " + e.getMessage());
        }
        support.addResource(resource);
        counts.merge(type, 1, Integer::sum);
      }
      if (counts.isEmpty()) {
        throw new UsageException("--definitions " + file + ": no StructureDefinition, CodeSystem or ValueSet in it");
      }
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("file", file.toString());
      r.put("resources", counts);
      report.add(r);
    }
    return support;
  }

  /**
   * HAPI's default policy advisor ({@link org.hl7.fhir.common.hapi.validation.validator.FhirDefaultPolicyAdvisor}),
   * plus two things.
   *
   * <p>1. A work-around for a regression of the engine (org.hl7.fhir.validation 6.6.4 and later, commit 8a54532 of
   * 2025-08-16; still in 6.10.2): when it validates an Extension StructureDefinition,
   * {@code StructureDefinitionValidator.checkElementDefinition} checks each {@code context} of type element
   * ("EvidenceVariable.characteristic") against every core version from the extension's first to its last FHIR
   * version. That list holds major.minor labels ({@code VersionUtilities.iterateCorePublishedVersions("4.0.1",
   * "4.0.1")} is {@code ["4.0"]}); each is compared with the version of the engine's own context by
   * {@code VersionUtilities.versionMatches("4.0", "4.0.1")}, a semver match, which is false ("2.0 matches 2.0 and
   * not 2.0.1"). So the engine never uses the definitions it already has: it builds a second context for "4.0"
   * from {@code hl7.fhir.r4.core} through the user's package cache ({@code ~/.fhir/packages}), asking the package
   * servers for the latest version first. Offline, with no package cache, that throws "Unable to resolve package id
   * hl7.fhir.r4.core#null", which surfaces as ERROR_GENERATING_SNAPSHOT on the StructureDefinition (the exception
   * escapes to the catch around snapshot generation; the differential is not involved). R5 ("5.0" vs "5.0.0") is
   * affected the same way. Up to 6.6.3 the engine compared major.minor ({@code versionsMatch(context.getVersion(),
   * v)}) and used its own context for its own version.
   *
   * <p>This advisor restores exactly that: before the engine's special checks of each resource (which is where
   * StructureDefinitionValidator runs) it registers the validator's own context as the session's context for the
   * major.minor of its version ({@code ValidatorSession.getOtherVersions()}, the map the engine fills from the
   * package cache; HAPI's ValidatorWrapper creates the session with no way to reach it but the validator's field).
   * The check itself still runs, against the same core definitions: an element context that does not exist in the
   * version is still an error (SD_CONTEXT_SHOULD_ELEMENT_NOT_FOUND). Contexts for other versions (an extension
   * declaring another FHIR version range) still go to the package cache, as in the engine.
   *
   * <p>2. It records which resources the engine validated in each file (the root, every Bundle entry, contained
   * resources): the {@code validated} list of each result, so a caller can tell that nothing was skipped.
   */
  static final SameVersionContextPolicyAdvisor ADVISOR = new SameVersionContextPolicyAdvisor();

  static final class SameVersionContextPolicyAdvisor
      extends org.hl7.fhir.common.hapi.validation.validator.FhirDefaultPolicyAdvisor {
    private static final java.lang.reflect.Field SESSION;
    /** Every resource the engine validated (root, Bundle entries, contained) since the last {@link #seen()}. */
    private final ThreadLocal<List<Map<String, Object>>> seen = ThreadLocal.withInitial(ArrayList::new);

    /** The resources validated since the last call, in the engine's order; starts a new list. */
    List<Map<String, Object>> seen() {
      List<Map<String, Object>> s = seen.get();
      seen.set(new ArrayList<>());
      return s;
    }

    static {
      try {
        SESSION = org.hl7.fhir.validation.BaseValidator.class.getDeclaredField("session");
        SESSION.setAccessible(true);
      } catch (NoSuchFieldException e) {
        throw new IllegalStateException("engine changed: BaseValidator.session not found", e);
      }
    }

    @Override
    public List<org.hl7.fhir.r5.model.StructureDefinition> getImpliedProfilesForResource(
        org.hl7.fhir.r5.utils.validation.IResourceValidator validator,
        Object appContext,
        String stackPath,
        org.hl7.fhir.r5.model.ElementDefinition definition,
        org.hl7.fhir.r5.model.StructureDefinition structure,
        org.hl7.fhir.r5.elementmodel.Element resource,
        boolean valid,
        org.hl7.fhir.r5.utils.validation.IMessagingServices msgServices,
        List<org.hl7.fhir.utilities.validation.ValidationMessage> messages) {
      Map<String, Object> v = new LinkedHashMap<>();
      v.put("path", stackPath);
      v.put("resourceType", resource == null ? null : resource.fhirType());
      if (!seen.get().contains(v)) { // the engine passes some resources twice (Bundle entries, profiles)
        seen.get().add(v);
      }
      if (validator instanceof org.hl7.fhir.validation.instance.InstanceValidator) {
        org.hl7.fhir.validation.instance.InstanceValidator base =
            (org.hl7.fhir.validation.instance.InstanceValidator) validator;
        org.hl7.fhir.r5.context.IWorkerContext context = base.getContext();
        try {
          org.hl7.fhir.r5.utils.validation.ValidatorSession session =
              (org.hl7.fhir.r5.utils.validation.ValidatorSession) SESSION.get(base);
          String majMin = org.hl7.fhir.utilities.VersionUtilities.getMajMin(context.getVersion());
          if (session != null && majMin != null) {
            session.getOtherVersions().putIfAbsent(majMin, context);
          }
        } catch (IllegalAccessException e) {
          throw new IllegalStateException(e);
        }
      }
      return super.getImpliedProfilesForResource(
          validator, appContext, stackPath, definition, structure, resource, valid, msgServices, messages);
    }
  }

  /**
   * The element tables the engine's cross-version extension manager (XVerExtensionManagerOld, which HAPI's
   * ValidatorWrapper uses) reads through {@code IWorkerContext.getBinaryForKey("xver-paths-5.0.json")}.
   */
  static PrePopulatedValidationSupport crossVersionTables(FhirContext ctx) throws IOException {
    PrePopulatedValidationSupport xver = new PrePopulatedValidationSupport(ctx);
    int n = 0;
    try (InputStream is = FhirValidatorCli.class.getClassLoader().getResourceAsStream(XVER_PACKAGE)) {
      if (is == null) {
        throw new IOException("missing classpath resource " + XVER_PACKAGE);
      }
      NpmPackage pkg = NpmPackage.fromPackage(is);
      for (String name : pkg.list("other")) {
        if (name.startsWith("xver-paths-") && name.endsWith(".json")) {
          try (InputStream b = pkg.load("other", name)) {
            xver.addBinary(b.readAllBytes(), name);
            n++;
          }
        }
      }
    }
    if (n == 0) {
      throw new IOException(XVER_PACKAGE + " holds no xver-paths-*.json");
    }
    return xver;
  }

  static Map<String, Object> validateFile(FhirValidator validator, Path file) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("file", file.toString());
    r.put("resourceType", null);
    r.put("id", null);
    List<Map<String, Object>> issues = new ArrayList<>();
    ADVISOR.seen();
    String text = null;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      issues.add(issue("fatal", "", "cannot read file: " + e, "harness-read-error", null, null));
    }
    if (text != null) {
      try {
        JsonElement parsed = JsonParser.parseString(text);
        if (parsed.isJsonObject()) {
          JsonObject obj = parsed.getAsJsonObject();
          r.put("resourceType", primitive(obj, "resourceType"));
          r.put("id", primitive(obj, "id"));
        }
      } catch (RuntimeException e) {
        // Not JSON: the engine reports it below.
      }
      try {
        ValidationResult result = validator.validateWithResult(text);
        for (SingleValidationMessage m : result.getMessages()) {
          issues.add(issue(
              m.getSeverity() == null ? "error" : m.getSeverity().getCode(),
              m.getLocationString(),
              m.getMessage(),
              m.getMessageId(),
              m.getLocationLine(),
              m.getLocationCol()));
        }
      } catch (RuntimeException e) {
        issues.add(issue("fatal", "", "validator failed on this file: " + e, "harness-exception", null, null));
      }
    }
    r.put("validated", ADVISOR.seen());
    r.put("issues", issues);
    return r;
  }

  private static String primitive(JsonObject o, String name) {
    JsonElement e = o.get(name);
    return e != null && e.isJsonPrimitive() ? e.getAsString() : null;
  }

  private static Map<String, Object> issue(
      String severity, String location, String message, String messageId, Integer line, Integer col) {
    Map<String, Object> i = new LinkedHashMap<>();
    i.put("severity", severity);
    i.put("location", location);
    i.put("message", message);
    i.put("messageId", messageId);
    i.put("line", line);
    i.put("col", col);
    return i;
  }
}
