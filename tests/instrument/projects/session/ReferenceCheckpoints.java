import codegreen.runtime.CodeGreenRuntime;

/** The reference's checkpoint form, written by hand, and the id-based fast form. */
public class ReferenceCheckpoints {
  public static void main(String[] args) {
    for (int i = 0; i < 3; i++) {
      CodeGreenRuntime.checkpoint("cp_work", "work", "enter");
      CodeGreenRuntime.measureCheckpoint("cp_inner", "enter", "inner", 12, "ReferenceCheckpoints.java");
      CodeGreenRuntime.measureCheckpoint("cp_inner", "exit", "inner", 12, "ReferenceCheckpoints.java");
      CodeGreenRuntime.checkpoint("cp_work", "work", "exit");
    }
    int id = CodeGreenRuntime.register("fast", "ReferenceCheckpoints.java", 14);
    for (int i = 0; i < 5; i++) {
      CodeGreenRuntime.enter(id);
      CodeGreenRuntime.exit(id);
    }
    try {
      CodeGreenRuntime.checkpoint("x", "work", "sideways");
    } catch (IllegalArgumentException e) {
      System.out.println("refused: " + e.getMessage());
    }
    System.out.println("active " + CodeGreenRuntime.isActive() + " id " + (id != 0));
  }
}
